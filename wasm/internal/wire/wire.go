// Package wire holds what both sides of the Wasm ABI must agree on — the
// version, the HTTP result codes, the header-line encoding and the JSON
// payloads — shared by the guest and the host so the two cannot drift.
// wasm/ABI.md documents them for other hosts.
package wire

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/errjson"
	"github.com/zbauth/zbauth/internal/urlx"
)

// ABIVersion is zb_abi_version's answer. Bump it on any incompatible
// change to the exports, imports or payloads.
const ABIVersion = 3

// zb_http_start results.
const (
	StartOK       = 0
	StartRefused  = 1 // the origin is not one the host allows this client
	StartInvalid  = 2 // the host could not read or parse the request
	StartBusy     = 3 // too many requests in flight
	StartDisabled = 4 // the host is closing
)

// zb_http_fail codes.
const (
	FailTransport = 1
	FailTimeout   = 2
	FailTooLarge  = 3
	// FailTLS: the TLS handshake failed (an untrusted or invalid
	// certificate, a refused client certificate). Final: retrying cannot
	// help, so the core does not.
	FailTLS = 4
)

// AppendHeaderLines appends h to b as "Name: value\n" lines, leaving out
// what cannot be represented (a colon or line break in a name, a line
// break in a value).
func AppendHeaderLines(b []byte, h map[string]string) []byte {
	for k, v := range h {
		if strings.ContainsAny(k, ":\r\n") || strings.ContainsAny(v, "\r\n") {
			continue
		}
		b = append(append(append(append(b, k...), ": "...), v...), '\n')
	}
	return b
}

// Error is the payload of a failed call (ABI.md, "Error payload"): the
// core's description of the error, as the C library gives it too, and the
// response of a REST API error.
type Error struct {
	errjson.Details
	Response *Response `json:"response,omitempty"`
}

// Response is the response attached to a REST API error.
type Response struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
	Body   []byte            `json:"body"` // base64 in JSON
}

// ClientNew is zb_client_new's result payload (ABI.md, zb_client_new):
// the handle, the resolved configuration (secrets redacted), and what the
// host enforces for the client, computed by the guest with the core's own
// resolution so that a host never re-derives policy from key names.
type ClientNew struct {
	Client int32           `json:"client"`
	Config json.RawMessage `json:"config"`
	// Origins are the configured origins the client may reach (Origins).
	Origins []string `json:"origins"`
	// DiscoveryURL is the OpenID discovery document's URL when an OAUTH
	// client finds its token endpoint by discovery: the answer to exactly
	// this request teaches the host one more origin (LearnedOrigin).
	DiscoveryURL string `json:"discovery_url,omitempty"`
	// TLS is what the host's HTTP stack applies to every origin.
	TLS TLS `json:"tls"`
}

// TLS is the resolved transport settings of a client that the host, not
// the guest, applies: the files are read by the host, from its own file
// system, on every connection the client makes (token endpoint,
// discovery, REST), as core.NewHTTPTransport does.
type TLS struct {
	CACertificatePath     string `json:"ca_certificate_path,omitempty"`     // PEM CAs added to the system roots
	ClientCertificatePath string `json:"client_certificate_path,omitempty"` // PEM certificate for mutual TLS
	ClientKeyPath         string `json:"client_key_path,omitempty"`         // its PEM key
	AllowInsecureHTTP     bool   `json:"allow_insecure_http"`               // plain http:// to a non-loopback host may be learned
}

// Policy is what the host enforces for the resolved configuration rc.
func Policy(rc core.Config) (origins []string, discoveryURL string, t TLS) {
	urls := []string{rc.RESTAddress}
	if rc.AuthStrategy == core.AuthOAuth {
		// Under discovery the token URL is empty: the document names it.
		discoveryURL = rc.DiscoveryURL()
		urls = append(urls, rc.AuthorizationServerURL, discoveryURL)
	}
	origins = []string{}
	for _, u := range urls {
		if o, ok := Origin(u); ok && !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return origins, discoveryURL, TLS{
		CACertificatePath: rc.CACertificatePath, ClientCertificatePath: rc.ClientCertificatePath,
		ClientKeyPath: rc.ClientKeyPath, AllowInsecureHTTP: rc.AllowInsecureHTTP,
	}
}

// LearnedOrigin is the origin a discovery document's token endpoint adds,
// or false: not an absolute http(s) URL, or plain http:// to a host that
// is not loopback without allowInsecure (the core refuses that endpoint).
func LearnedOrigin(tokenEndpoint string, allowInsecure bool) (string, bool) {
	o, ok := Origin(tokenEndpoint)
	if !ok {
		return "", false
	}
	if u, _ := url.Parse(tokenEndpoint); !allowInsecure && strings.EqualFold(u.Scheme, "http") && !urlx.IsLoopbackHost(u.Hostname()) {
		return "", false
	}
	return o, true
}

// Origin returns scheme://host:port of an absolute http(s) URL, with the
// default port made explicit and the host lower-cased, or false (no host,
// user info, another scheme).
func Origin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
	default:
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", false
	}
	return scheme + "://" + net.JoinHostPort(host, port), true
}
