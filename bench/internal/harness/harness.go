// Package harness connects the benchmarks to a dev cluster and builds the
// clients under comparison, configured alike: zbauth's core.Client, a
// hand-wired golang.org/x/oauth2 client-credentials ReuseTokenSource, and
// the floor (net/http with a fixed bearer header). Camunda's Go client is
// in package zbcpeer, so that the memory child does not link gRPC.
//
// The cluster is the one named by ZBAUTH_DEV_URL and the ZEEBE_* variables
// (as set by `zbauth dev-cluster -- cmd`), so that every language measures
// against the same out-of-process server; without them an embedded
// cluster is started in this process.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Cluster is a dev cluster reached over HTTP, through its /_dev/ control
// endpoints.
type Cluster struct {
	DevURL       string
	TokenURL     string
	RESTAddress  string
	ClientID     string
	ClientSecret string
	Audience     string
	Embedded     bool // started in this process

	closeFn func()
	ctl     *http.Client
}

// Connect returns the cluster named by the environment, or starts an
// embedded one.
func Connect() (*Cluster, error) {
	ctl := &http.Client{Timeout: 10 * time.Second}
	if dev := os.Getenv("ZBAUTH_DEV_URL"); dev != "" {
		c := &Cluster{
			DevURL:       strings.TrimRight(dev, "/"),
			TokenURL:     os.Getenv("ZEEBE_AUTHORIZATION_SERVER_URL"),
			RESTAddress:  strings.TrimRight(os.Getenv("ZEEBE_REST_ADDRESS"), "/"),
			ClientID:     os.Getenv("ZEEBE_CLIENT_ID"),
			ClientSecret: os.Getenv("ZEEBE_CLIENT_SECRET"),
			Audience:     os.Getenv("ZEEBE_TOKEN_AUDIENCE"),
			ctl:          ctl,
		}
		if c.TokenURL == "" || c.RESTAddress == "" || c.ClientID == "" || c.ClientSecret == "" || c.Audience == "" {
			return nil, fmt.Errorf("ZBAUTH_DEV_URL is set but the ZEEBE_* variables are incomplete")
		}
		return c, nil
	}
	dc, err := devcluster.Start(devcluster.Options{})
	if err != nil {
		return nil, err
	}
	o := dc.Options()
	return &Cluster{
		DevURL: dc.URL(), TokenURL: dc.TokenURL(), RESTAddress: dc.RESTAddress(),
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, Audience: o.Audience,
		Embedded: true, closeFn: func() { dc.Close() }, ctl: ctl,
	}, nil
}

// Close stops an embedded cluster.
func (c *Cluster) Close() {
	if c.closeFn != nil {
		c.closeFn()
	}
}

// Env is the environment that points a zbauth process at the cluster.
func (c *Cluster) Env() []string {
	return []string{
		"ZEEBE_REST_ADDRESS=" + c.RESTAddress,
		"ZEEBE_AUTHORIZATION_SERVER_URL=" + c.TokenURL,
		"ZEEBE_CLIENT_ID=" + c.ClientID,
		"ZEEBE_CLIENT_SECRET=" + c.ClientSecret,
		"ZEEBE_TOKEN_AUDIENCE=" + c.Audience,
		"ZBAUTH_DEV_URL=" + c.DevURL,
	}
}

func (c *Cluster) post(path string, body any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	resp, err := c.ctl.Post(c.DevURL+path, "application/json", r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	return nil
}

// Reset clears faults and counters and restores the token lifetime.
func (c *Cluster) Reset() error { return c.post("/_dev/reset", nil) }

// Fault is one queued fault (see docs/dev-cluster.md).
type Fault struct {
	Target  string `json:"target"`
	Times   int    `json:"times,omitempty"`
	DelayMS int    `json:"delay_ms,omitempty"`
}

// AddFault queues f.
func (c *Cluster) AddFault(f Fault) error { return c.post("/_dev/faults", f) }

// ClearFaults removes every queued fault.
func (c *Cluster) ClearFaults() error {
	req, _ := http.NewRequest(http.MethodDelete, c.DevURL+"/_dev/faults", nil)
	resp, err := c.ctl.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// SetTokenLifetime changes expires_in for tokens issued from now on.
func (c *Cluster) SetTokenLifetime(d time.Duration) error {
	return c.post("/_dev/config", map[string]float64{"token_lifetime_s": d.Seconds()})
}

// Stats are the cluster's request counters.
type Stats struct {
	TokenRequests int64 `json:"token_requests"`
	TokensIssued  int64 `json:"tokens_issued"`
	APIRequests   int64 `json:"api_requests"`
	APIRejected   int64 `json:"api_rejected"`
}

// Stats reads the counters.
func (c *Cluster) Stats() (Stats, error) {
	var s Stats
	resp, err := c.ctl.Get(c.DevURL + "/_dev/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

// Transport is the HTTP transport given to every Go peer: the same pool
// settings zbauth's own transport uses (64 idle connections per host), so
// that the comparison measures the libraries, not their pool defaults.
func Transport() *http.Transport {
	rt := http.DefaultTransport.(*http.Transport).Clone()
	rt.Proxy = nil
	rt.MaxIdleConnsPerHost = 64
	rt.IdleConnTimeout = 90 * time.Second
	return rt
}

func noEnv(string) (string, bool) { return "", false }

// Zbauth returns a zbauth client for the cluster. The process environment
// is not consulted (no disk cache, no proxy).
func (c *Cluster) Zbauth(opts ...core.Option) (*core.Client, error) {
	opts = append([]core.Option{core.WithLookupEnv(noEnv), core.WithLogger(func(string) {})}, opts...)
	return core.New(core.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, Audience: c.Audience,
		AuthorizationServerURL: c.TokenURL, RESTAddress: c.RESTAddress,
	}, opts...)
}

// XOAuth2Config is the hand-wired golang.org/x/oauth2 configuration:
// client-credentials with the audience parameter, credentials in the form
// (as Camunda expects).
func (c *Cluster) XOAuth2Config() *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: c.TokenURL,
		EndpointParams: map[string][]string{"audience": {c.Audience}},
		AuthStyle:      oauth2.AuthStyleInParams,
	}
}

// XOAuth2 returns x/oauth2's client-credentials token source, which is a
// ReuseTokenSource, over its own HTTP client.
func (c *Cluster) XOAuth2(rt http.RoundTripper) oauth2.TokenSource {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rt})
	return c.XOAuth2Config().TokenSource(ctx)
}

// XOAuth2Client returns an *http.Client that authenticates with x/oauth2's
// ReuseTokenSource, as a hand-wired user would: oauth2.Transport over rt.
func (c *Cluster) XOAuth2Client(rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: &oauth2.Transport{Base: rt, Source: c.XOAuth2(rt)}}
}

// Floor is the baseline every topology figure is compared with: a raw
// net/http GET of /v1/topology with a fixed bearer header, the body read to
// the end and not parsed. A request is built per call, as any caller must.
type Floor struct {
	Client *http.Client
	URL    string
	Auth   string // "Bearer <token>"
}

// Floor returns the floor for token.
func (c *Cluster) Floor(rt http.RoundTripper, token string) *Floor {
	return &Floor{Client: &http.Client{Transport: rt}, URL: c.TopologyURL(), Auth: "Bearer " + token}
}

// Get makes one request and returns the body.
func (f *Floor) Get(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", f.Auth)
	req.Header.Set("Accept", "application/json")
	return Get(f.Client, req)
}

// TopologyURL is the REST API's topology endpoint.
func (c *Cluster) TopologyURL() string { return c.RESTAddress + "/v1/topology" }

// FetchToken makes one raw token request with cl and returns the token.
func (c *Cluster) FetchToken(cl *http.Client) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID},
		"client_secret": {c.ClientSecret}, "audience": {c.Audience}}
	resp, err := cl.PostForm(c.TokenURL, form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		return "", err
	}
	if resp.StatusCode != 200 || tr.AccessToken == "" {
		return "", fmt.Errorf("token request: %s", resp.Status)
	}
	return tr.AccessToken, nil
}

// Get makes one floor request: GET with the request's headers and the body
// read to the end.
func Get(cl *http.Client, req *http.Request) ([]byte, error) {
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET topology: %s", resp.Status)
	}
	return b, nil
}

// TopoPeer is one way of fetching the topology, with a token cached after
// the first call.
type TopoPeer struct {
	Get   func(ctx context.Context) error
	Close func()
}

// TopoPeers are the topology peers: the floor, zbauth (Topology, parsed)
// and x/oauth2 (oauth2.Transport, body read). NewTopoPeer also knows
// "zbauth-do": zbauth's Do, the body not parsed.
var TopoPeers = []string{"floor", "zbauth", "xoauth2"}

// NewTopoPeer returns a fresh client of peer name.
func (c *Cluster) NewTopoPeer(name string) (*TopoPeer, error) {
	switch name {
	case "floor":
		tok, err := c.FetchToken(&http.Client{})
		if err != nil {
			return nil, err
		}
		rt := Transport()
		f := c.Floor(rt, tok)
		return &TopoPeer{Get: func(ctx context.Context) error { _, err := f.Get(ctx); return err }, Close: rt.CloseIdleConnections}, nil
	case "zbauth":
		zc, err := c.Zbauth()
		if err != nil {
			return nil, err
		}
		return &TopoPeer{Get: func(ctx context.Context) error { _, err := zc.Topology(ctx); return err }, Close: func() { zc.Close() }}, nil
	case "zbauth-do":
		// The same request through Do: the body, not parsed, like the floor.
		zc, err := c.Zbauth()
		if err != nil {
			return nil, err
		}
		return &TopoPeer{Get: func(ctx context.Context) error { _, err := zc.Do(ctx, "GET", "/v1/topology", nil); return err }, Close: func() { zc.Close() }}, nil
	case "xoauth2":
		rt := Transport()
		hc := c.XOAuth2Client(rt)
		url := c.TopologyURL()
		return &TopoPeer{Get: func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Accept", "application/json")
			_, err = Get(hc, req)
			return err
		}, Close: rt.CloseIdleConnections}, nil
	}
	return nil, fmt.Errorf("unknown topology peer %q", name)
}
