package core

import (
	"bytes"
	"context"
	"encoding/base64"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/zbauth/zbauth/internal/jsonx"
)

// maxDiscoveryBody caps an OpenID discovery document.
const maxDiscoveryBody = 1 << 20

// Discovery is what zbauth reads from an OpenID Provider's discovery
// document (OpenID Connect Discovery 1.0 §3; RFC 8414).
type Discovery struct {
	Issuer        string   `json:"issuer"`
	TokenEndpoint string   `json:"token_endpoint"`
	AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
}

// ParseDiscovery decodes a discovery document and checks its
// token_endpoint: an absolute http(s) URL without user info. Other fields
// are kept as given. The Wasm host uses it to learn which origin the
// guest's token requests may go to.
func ParseDiscovery(body []byte) (*Discovery, error) {
	var d Discovery
	if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) || jsonx.Unmarshal(body, &d) != nil {
		return nil, &Error{Kind: KindAuth, Op: "discovery", Msg: "the OpenID discovery document is not a JSON object"}
	}
	if d.TokenEndpoint == "" {
		return nil, &Error{Kind: KindAuth, Op: "discovery", Msg: "the OpenID discovery document has no token_endpoint"}
	}
	if why := checkHTTPURL(d.TokenEndpoint); why != "" {
		return nil, &Error{Kind: KindAuth, Op: "discovery", Msg: "the discovery document's token_endpoint " + why}
	}
	return &d, nil
}

// method picks the client authentication method when none is configured:
// client_secret_basic when the provider lists it but not
// client_secret_post (RFC 8414 makes basic the default of an empty list,
// but Camunda's clients send post, which every provider we know takes).
func (d *Discovery) method() string {
	if !slices.Contains(d.AuthMethods, MethodClientSecretPost) && slices.Contains(d.AuthMethods, MethodClientSecretBasic) {
		return MethodClientSecretBasic
	}
	return MethodClientSecretPost
}

// tokenEndpoint is where token requests go and how the client
// authenticates there, settled once per client.
type tokenEndpoint struct {
	url    string
	method string
}

// endpoint returns the client's token endpoint, reading the discovery
// document on first use. Only the token source's single flight calls it,
// so there is one discovery request at a time; a failure is not kept
// (the token source's pacing and cooldown bound the retries).
func (c *Client) endpoint(ctx context.Context) (*tokenEndpoint, error) {
	if ep := c.ep.Load(); ep != nil {
		return ep, nil
	}
	d, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	if !c.cfg.AllowInsecureHTTP && insecureRemote(d.TokenEndpoint) {
		return nil, &Error{Kind: KindAuth, Op: "discovery", Msg: "the discovery document's token_endpoint uses plain http:// to a host that is not loopback; refused (allow_insecure_http permits it)"}
	}
	ep := &tokenEndpoint{url: d.TokenEndpoint, method: c.cfg.TokenAuthMethod}
	if ep.method == "" {
		ep.method = d.method()
	}
	c.ep.Store(ep)
	return ep, nil
}

// discover fetches and parses the discovery document, under the same
// transport, size and redirect rules as a token request.
func (c *Client) discover(ctx context.Context) (*Discovery, error) {
	resp, err := c.tr.RoundTrip(ctx, &Request{
		Method: "GET", URL: c.cfg.DiscoveryURL(),
		Header: map[string]string{"Accept": "application/json"}, MaxBody: maxDiscoveryBody,
	})
	if err != nil {
		return nil, c.transportError("discovery", ctx, err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		msg := "the OpenID discovery document could not be fetched"
		if resp.Status == 404 {
			msg += ": check issuer_url / CAMUNDA_ISSUER_URL (the document is looked for at {issuer}/.well-known/openid-configuration)"
		}
		return nil, &Error{Kind: KindAuth, Op: "discovery", Status: resp.Status, Msg: msg}
	}
	return ParseDiscovery(resp.Body)
}

// jwtExpiry reads the exp claim of an access token that is a JWT (RFC
// 7519), without verifying it: the token is the IdP's promise to the
// REST API, and exp is when the API will stop honouring it. ok is false
// for an opaque token, or a JWT without a numeric exp.
func jwtExpiry(tok string) (exp time.Time, ok bool) {
	first := strings.IndexByte(tok, '.')
	last := strings.LastIndexByte(tok, '.')
	if first <= 0 || last == first || len(tok)-last < 1 {
		return time.Time{}, false
	}
	payload := tok[first+1 : last]
	if strings.IndexByte(payload, '.') >= 0 || len(payload) > maxTokenBody {
		return time.Time{}, false // a JWE has five parts
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if jsonx.Unmarshal(raw, &claims) != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	v := *claims.Exp
	if math.IsNaN(v) || v < 0 || v > 1e12 {
		return time.Time{}, false
	}
	return time.Unix(int64(v), 0), true
}
