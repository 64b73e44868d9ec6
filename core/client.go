package core

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zbauth/zbauth/internal/jsonx"
	"github.com/zbauth/zbauth/internal/tokenrule"
	"github.com/zbauth/zbauth/internal/wakeup"
)

// DefaultMaxBody caps how much of a REST API response is read.
const DefaultMaxBody = 16 << 20

// MaxBodyLimit is the largest Config.MaxBodyBytes allowed, and the most
// any transport of this package reads of one response body.
const MaxBodyLimit = 1 << 30

// Client authenticates to one Camunda 8 cluster. It is safe for concurrent
// use by many goroutines; share one per set of credentials, as it holds the
// token cache and a keep-alive connection pool.
type Client struct {
	cfg    Config
	tr     Transport
	tokens *tokenSource
	// form is the token request body less the client's credentials;
	// post is the client_secret_post body (it holds the secret) and
	// secretBasic the client_secret_basic header.
	form, post, secretBasic string
	key                     *assertionKey // private_key_jwt only
	ep                      atomic.Pointer[tokenEndpoint]
	static                  string                 // BASIC, BEARER: the Authorization header
	base, version           string                 // the REST address less a /v1 or /v2 it names, and that version
	topoVersion             atomic.Pointer[string] // topology's version once a 404 on /v1 chose /v2
	red                     redactor
	margin                  time.Duration
	maxBody                 int64
	closed                  atomic.Bool
	ownsConn                interface{ CloseIdleConnections() }
	// rejected is the last token the REST API answered 401 to; the disk
	// cache must not hand it back (another process may have stored it).
	rejected atomic.Pointer[string]
	// topo is the topology last parsed, with its body.
	topo atomic.Pointer[topologyMemo]
}

// Option adjusts a Client beyond its Config.
type Option func(*options)

type options struct {
	transport Transport
	logf      func(string)
	cooldown  time.Duration
	margin    time.Duration
	lookup    func(string) (string, bool)
	onToken   func(tokenrule.Snapshot)
}

// withTokenObserver is corehook.WithTokenObserver (see hooks.go).
func withTokenObserver(f func(tokenrule.Snapshot)) Option {
	return func(o *options) { o.onToken = f }
}

// WithTransport routes every request through t instead of a new
// net/http-based transport. The Wasm guest uses this to reach its host.
func WithTransport(t Transport) Option { return func(o *options) { o.transport = t } }

// WithRefreshMargin sets how long before expiry a token is refreshed in the
// background (default DefaultRefreshMargin, capped at a quarter of the
// token's lifetime).
func WithRefreshMargin(d time.Duration) Option { return func(o *options) { o.margin = d } }

// WithAuthErrorCooldown sets how long a refusal from the token endpoint
// (400/401: wrong secret, unknown audience) is returned from memory before
// another request is made (default DefaultAuthErrorCooldown; 0 disables).
func WithAuthErrorCooldown(d time.Duration) Option { return func(o *options) { o.cooldown = d } }

// WithLogger receives zbauth's rare warnings (such as an unusable token
// cache directory) instead of the standard logger. Messages never contain
// secrets.
func WithLogger(f func(msg string)) Option { return func(o *options) { o.logf = f } }

// WithLookupEnv replaces os.LookupEnv as the source of environment
// variables; tests and embedders use it.
func WithLookupEnv(f func(string) (string, bool)) Option { return func(o *options) { o.lookup = f } }

// New resolves cfg against the environment (see Config.Resolve), validates
// it and returns a Client. It makes no network request.
func New(cfg Config, opts ...Option) (*Client, error) {
	o := options{margin: DefaultRefreshMargin, cooldown: DefaultAuthErrorCooldown, logf: defaultLog}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := cfg.Resolve(o.lookup)
	if err != nil {
		return nil, err
	}
	if o.margin < 0 {
		// A negative margin would put the refresh point after the expiry,
		// and Token would hand out expired tokens until then.
		o.margin = 0
	}
	c := &Client{cfg: cfg, tr: o.transport, margin: o.margin, maxBody: cfg.MaxBodyBytes}
	if c.tr == nil {
		if c.tr, err = defaultTransport(cfg); err != nil {
			return nil, err
		}
		if c.tr == nil {
			return nil, &Error{Kind: KindConfig, Op: "config", Msg: "no transport: this platform needs WithTransport"}
		}
		c.ownsConn, _ = c.tr.(interface{ CloseIdleConnections() })
	}
	if err := c.setUpAuth(); err != nil {
		return nil, err
	}
	c.base, c.version = splitVersion(cfg.RESTAddress)
	fetch := c.fetchToken
	if cfg.AuthStrategy == AuthBearer {
		fetch = func(context.Context) (*tokenState, error) {
			refreshAt, expiry := lifetime(time.Now(), 0, 0) // never refreshed
			return &tokenState{value: cfg.OAuthToken, refreshAt: refreshAt, expiry: expiry}, nil
		}
	}
	warn := func(msg string) { o.logf(c.red.clean(msg)) }
	if dc := newDiskCache(cfg, warn); dc != nil && cfg.AuthStrategy == AuthOAuth {
		fetch = func(ctx context.Context) (*tokenState, error) {
			rejected := ""
			if p := c.rejected.Load(); p != nil {
				rejected = *p
			}
			return dc.fetch(ctx, c.fetchToken, rejected)
		}
	}
	timeout := cfg.Timeout
	if cfg.TokenTimeout > 0 {
		timeout = cfg.TokenTimeout
	}
	c.tokens = newTokenSource(fetch, timeout, o.cooldown, o.onToken)
	return c, nil
}

// Config returns the resolved configuration. Its String and MarshalJSON
// redact the secret.
func (c *Client) Config() Config { return c.cfg }

// String describes the client without secrets.
func (c *Client) String() string {
	r := c.cfg.redacted()
	return "zbauth.Client{rest=" + r.RESTAddress + " client_id=" + r.ClientID + "}"
}

// GoString makes %#v print String too: the default %#v would dump the
// unexported fields, which hold the secret and the token request body.
func (c *Client) GoString() string { return c.String() }

// Close releases the client's idle connections and stops background work.
// Calls after Close fail with KindArgument. Close is idempotent.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.tokens.close()
	if c.ownsConn != nil {
		c.ownsConn.CloseIdleConnections()
	}
	return nil
}

func (c *Client) checkOpen(op string) error {
	if c == nil || c.closed.Load() {
		return &Error{Kind: KindArgument, Op: op, Msg: "client is closed"}
	}
	return nil
}

// Token returns a valid access token. A cached token is returned at once
// (lock-free); a token in its refresh window is returned at once while one
// background request renews it; only with no usable token does the caller
// wait, sharing one request with every other waiting caller.
func (c *Client) Token(ctx context.Context) (string, error) {
	if err := c.checkToken(); err != nil {
		return "", err
	}
	return c.tokens.token(ctx)
}

// ErrWouldBlock is TryToken's answer when only a token request could help
// (a KindTimeout error; compare with ==).
var ErrWouldBlock = &Error{Kind: KindTimeout, Op: "token", Msg: "no cached token yet; a token request is in progress"}

// TryToken is Token without waiting, for callers that must never block
// (an event loop, a signal-safe path): it returns a usable cached token at
// once (starting a background refresh when one is due); without one it
// starts the token request in the background and returns a KindTimeout
// error, or returns the remembered refusal during its cooldown. Call Token
// (off the hot thread) to wait instead.
func (c *Client) TryToken() (string, error) {
	if err := c.checkToken(); err != nil {
		return "", err
	}
	return c.tokens.tryToken()
}

// joinToken is corehook.JoinToken (see hooks.go).
func (c *Client) joinToken(cb func(token string, err error)) (token string, pending bool, err error) {
	if err := c.checkToken(); err != nil {
		return "", false, err
	}
	return c.tokens.join(cb)
}

// fetchToken obtains a token, retrying 429, 5xx and network failures with
// exponential backoff and full jitter (never sooner than minFetchInterval,
// never sooner than Retry-After) while ctx's deadline allows. ctx is the
// flight's own context, bounded by Config.Timeout.
func (c *Client) fetchToken(ctx context.Context) (*tokenState, error) {
	for attempt := 1; ; attempt++ {
		tok, retryAfter, err := c.fetchTokenOnce(ctx)
		if err == nil || attempt == maxTokenAttempts || !retryableTokenError(err) {
			return tok, err
		}
		wait := backoff(attempt, retryAfter)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, err // no time left for another attempt
		}
		t := time.NewTimer(wait)
		wakeup.Note(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}

// fetchTokenOnce makes one token request and returns the token, or the
// error and the server's Retry-After (0 when absent).
func (c *Client) fetchTokenOnce(ctx context.Context) (*tokenState, time.Duration, error) {
	ep, err := c.endpoint(ctx)
	if err != nil {
		return nil, 0, err
	}
	sentAt := time.Now()
	c.tokens.paced(sentAt, 0)
	req, jwt, err := c.tokenRequest(ep, sentAt)
	if err != nil {
		return nil, 0, err
	}
	red := c.red
	if jwt != "" {
		red = redactorWith(red, jwt)
	}
	resp, err := c.tr.RoundTrip(ctx, req)
	if err != nil {
		return nil, 0, c.transportError("token", ctx, red.cleanErr(err))
	}
	tr, err := parseTokenResponse(resp.Status, resp.Body, red)
	if err != nil {
		retryAfter := parseRetryAfter(resp.Header["Retry-After"], time.Now())
		c.tokens.paced(sentAt, retryAfter)
		return nil, retryAfter, err
	}
	expiresIn, err := effectiveLifetime(tr, resp.Header["Date"], time.Now())
	if err != nil {
		return nil, 0, err
	}
	refreshAt, expiry := lifetime(sentAt, expiresIn, c.margin)
	return &tokenState{value: tr.AccessToken, refreshAt: refreshAt, expiry: expiry}, 0, nil
}

// retryableTokenError: 429, 5xx and network failures (not timeouts, which
// have used up the deadline, nor TLS failures, oversized bodies or
// transport refusals, which will not change).
func retryableTokenError(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Kind {
	case KindAuth:
		return e.Status == 429 || e.Status >= 500
	case KindTransport:
		return !e.permanent
	}
	return false
}

// backoff is the wait before attempt+1: full jitter over an exponentially
// growing window (1 s, 2 s, 4 s, ... capped at 8 s), but never less than the
// token-request rate limit nor than the server's Retry-After.
func backoff(attempt int, retryAfter time.Duration) time.Duration {
	window := time.Second << (attempt - 1)
	if window > 8*time.Second {
		window = 8 * time.Second
	}
	d := time.Duration(rand.Int64N(int64(window) + 1))
	if d < minFetchInterval {
		d = minFetchInterval
	}
	if d < retryAfter {
		d = retryAfter
	}
	return d
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). It returns 0 when v is empty, malformed or in the
// past, and caps the result at one hour.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > 3600 {
			n = 3600
		}
		d = time.Duration(n) * time.Second
	} else {
		t, ok := parseHTTPDate(v)
		if !ok {
			return 0
		}
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	if d > time.Hour {
		d = time.Hour
	}
	return d
}

// parseHTTPDate reads an HTTP-date (RFC 9110 §5.6.7) in any of its three
// forms.
func parseHTTPDate(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC1123, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// transportError classifies a Transport failure as KindTimeout or
// KindTransport, with secrets removed from its text.
func (c *Client) transportError(op string, ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || ctx.Err() != nil || isTimeout(err) {
		return &Error{Kind: KindTimeout, Op: op, Msg: "request timed out or was cancelled", Err: c.red.cleanErr(err)}
	}
	return &Error{Kind: KindTransport, Op: op, Msg: "request failed", Err: c.red.cleanErr(err),
		permanent: errors.Is(err, ErrTLS) || errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrRefused)}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func ctxError(op string, err error) error {
	return &Error{Kind: KindTimeout, Op: op, Msg: "request timed out or was cancelled", Err: err}
}

// Do makes an authenticated request to the REST API: method, a path
// relative to the REST address (such as "/v2/topology"), and an optional
// JSON body. On a 401 it fetches a new token and retries once, and only if
// the token changed. A status of 400 or more returns the response and a
// KindAPI error carrying the status and the problem document.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (*Response, error) {
	return c.do(ctx, "request", method, path, body)
}

func (c *Client) do(ctx context.Context, op, method, path string, body []byte) (*Response, error) {
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	if !validMethod(method) {
		return nil, &Error{Kind: KindArgument, Op: op, Msg: "invalid HTTP method"}
	}
	if body != nil && !jsonx.Valid(body) {
		return nil, &Error{Kind: KindArgument, Op: op, Msg: "request body is not valid JSON"}
	}
	u, err := c.resolvePath(path)
	if err != nil {
		return nil, &Error{Kind: KindArgument, Op: op, Msg: err.Error()}
	}
	if c.cfg.AuthStrategy != AuthOAuth {
		return c.doStatic(ctx, op, method, u, body)
	}
	tok, err := c.tokens.token(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.exchange(ctx, op, method, u, body, "Bearer "+tok)
	if err != nil {
		return resp, err
	}
	sent := [2]string{tok} // every token sent, for cleaning error texts
	if resp.Status == 401 {
		c.rejected.Store(&tok)
		c.tokens.invalidate(tok)
		fresh, err := c.tokens.token(ctx)
		if err != nil {
			return nil, err
		}
		if fresh != tok {
			sent[1] = fresh
			resp, err = c.exchange(ctx, op, method, u, body, "Bearer "+fresh)
			if err != nil {
				return resp, err
			}
		}
	}
	if resp.Status >= 400 {
		// A server may echo the request, bearer token included, into its
		// problem document: error texts are cleaned of every token sent.
		return resp, apiError(op, resp, redactorWith(redactorWith(c.red, sent[0]), sent[1]))
	}
	return resp, nil
}

// maxRedirects bounds how many same-origin redirects one call follows.
const maxRedirects = 5

// exchange sends one request and follows redirects that stay on the REST
// address's origin. A redirect elsewhere is not followed (the request
// carries the bearer token): it returns the response with a KindAPI error.
func (c *Client) exchange(ctx context.Context, op, method, u string, body []byte, auth string) (*Response, error) {
	for hops := 0; ; hops++ {
		resp, err := c.send(ctx, op, method, u, body, auth)
		if err != nil || !isRedirect(resp.Status) {
			return resp, err
		}
		next, ok := sameOrigin(u, resp.Header["Location"])
		if !ok {
			return resp, &Error{Kind: KindAPI, Op: op, Status: resp.Status,
				Msg: "REST API redirected to another origin; not followed, so that the token stays with the cluster"}
		}
		if hops == maxRedirects {
			return resp, &Error{Kind: KindAPI, Op: op, Status: resp.Status, Msg: "too many redirects"}
		}
		if resp.Status == 301 || resp.Status == 302 || resp.Status == 303 {
			if method != "GET" && method != "HEAD" {
				method = "GET"
			}
			body = nil
		}
		u = next
	}
}

func isRedirect(status int) bool {
	switch status {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// sameOrigin resolves location against base and reports whether the result
// has base's scheme, host and port.
func sameOrigin(base, location string) (string, bool) {
	if location == "" {
		return "", false
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", false
	}
	l, err := b.Parse(location)
	if err != nil || l.Scheme != b.Scheme || l.Host != b.Host || l.User != nil {
		return "", false
	}
	return l.String(), true
}

// send makes one request with the Authorization header auth ("" for
// none).
func (c *Client) send(ctx context.Context, op, method, u string, body []byte, auth string) (*Response, error) {
	h := map[string]string{"Accept": "application/json"}
	if auth != "" {
		h["Authorization"] = auth
	}
	if body != nil {
		h["Content-Type"] = "application/json"
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	wakeup.Note(c.cfg.Timeout)
	defer cancel()
	resp, err := c.tr.RoundTrip(rctx, &Request{Method: method, URL: u, Header: h, Body: body, MaxBody: c.maxBody})
	if err != nil {
		return nil, c.transportError(op, rctx, redactorWith(c.red, auth).cleanErr(err))
	}
	return resp, nil
}

func redactorWith(r redactor, tok string) redactor {
	return append(r[:len(r):len(r)], tok)
}

// resolvePath joins a REST path to the REST address. Absolute URLs are
// refused: the bearer token must only go to the configured cluster.
func (c *Client) resolvePath(path string) (string, error) {
	if path == "" {
		return "", errors.New("path is empty")
	}
	if strings.Contains(path, "://") || strings.HasPrefix(path, "//") {
		return "", errors.New("path must be relative to the REST address, not an absolute URL")
	}
	for _, r := range path {
		if r <= 0x20 || r == 0x7f {
			return "", errors.New("path contains spaces or control characters")
		}
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if c.version != "" && !hasVersion(path) {
		path = "/" + c.version + path
	}
	return c.base + path, nil
}

func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		ch := m[i]
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch == '-' || ch == '_') {
			return false
		}
	}
	return true
}

func apiError(op string, resp *Response, red redactor) *Error {
	e := &Error{Kind: KindAPI, Op: op, Msg: "REST API returned an error", Status: resp.Status}
	if p := parseProblem(resp.Body); p != nil {
		p.Type = red.text(p.Type, 500)
		p.Title = red.text(p.Title, 200)
		p.Detail = red.text(p.Detail, 1000)
		p.Instance = red.text(p.Instance, 500)
		e.Problem = p
	} else if resp.Status == 401 {
		e.Msg = "REST API rejected the token"
	}
	return e
}

// parseProblem decodes an RFC 9457 problem document, or returns nil when
// body is not one.
func parseProblem(body []byte) *Problem {
	var p Problem
	if err := jsonx.Unmarshal(body, &p); err != nil || (p.Title == "" && p.Detail == "" && p.Type == "") {
		return nil
	}
	return &p
}

// Topology fetches the cluster topology: GET /v1/topology, or /v2/topology
// when the REST address names v2 or /v1 answered 404 (then for good). The
// caller owns the result.
func (c *Client) Topology(ctx context.Context) (*Topology, error) {
	m, err := c.topology(ctx)
	if err != nil {
		return nil, err
	}
	return m.t.clone(), nil
}

// TopologyJSON fetches the topology as Topology does and returns it encoded as
// Topology.JSON does: the API's field names, lists never null. The C
// library hands this form out. The caller owns the slice.
func (c *Client) TopologyJSON(ctx context.Context) ([]byte, error) {
	m, err := c.topology(ctx)
	if err != nil {
		return nil, err
	}
	b, err := m.encoded()
	return bytes.Clone(b), err
}

// topology fetches the topology and parses it, unless the body is the one
// the client parsed last (see topologyMemo).
func (c *Client) topology(ctx context.Context) (*topologyMemo, error) {
	resp, err := c.do(ctx, "topology", "GET", c.topologyPath(), nil)
	if c.version == "" && c.topoVersion.Load() == nil && KindOf(err) == KindAPI && resp != nil && resp.Status == 404 {
		// No version named: the seed's /v1, and after a 404 there /v2,
		// for good (Camunda 8.8+ may serve only /v2).
		v2 := "v2"
		c.topoVersion.Store(&v2)
		resp, err = c.do(ctx, "topology", "GET", c.topologyPath(), nil)
	}
	if err != nil {
		return nil, err
	}
	if m := c.topo.Load(); m != nil && bytes.Equal(m.body, resp.Body) {
		return m, nil
	}
	t, err := ParseTopology(resp.Body)
	if err != nil {
		return nil, &Error{Kind: KindAPI, Op: "topology", Msg: "malformed topology response", Status: resp.Status, Err: err}
	}
	m := &topologyMemo{t: t}
	if len(resp.Body) <= maxMemoBody {
		// A copy: a Transport given WithTransport might reuse its buffer,
		// and the copy holds no spare capacity.
		m.body = bytes.Clone(resp.Body)
		c.topo.Store(m)
	}
	return m, nil
}
