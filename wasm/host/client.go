package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/flight"
	"github.com/zbauth/zbauth/internal/jsonx"
	"github.com/zbauth/zbauth/internal/redact"
	"github.com/zbauth/zbauth/wasm/internal/wire"
)

// Client is one zbauth client living in the plugin: its token cache and
// single-flight token request are the core's, inside the guest. It is
// safe for concurrent use; share one per set of credentials.
type Client struct {
	p       *Plugin
	cfg     []byte   // the config JSON as given (holds the secret); kept to recreate the guest client after a trap
	origins []string // the origins its configuration names: the only ones its requests may go to, with learned
	files   []string // the credential files granted to the guest for it (credentialFS)
	tr      *core.HTTPTransport

	// discovery is the OpenID discovery document's URL ("" without
	// discovery): a 200 answer to a request for exactly it makes its
	// token_endpoint's origin reachable too (learned).
	discovery string
	tls       wire.TLS         // the TLS settings tr applies, as resolved by the host
	scrub     *redact.Scrubber // its secret and recent tokens (see redact)
	token     tokenCopy        // the guest core's cached token, as last reported

	timeout time.Duration        // the resolved Config.Timeout, which bounds a token acquisition
	flight  flight.Group[string] // the zb_token call that callers without a copy wait for

	// guarded by p.mu
	gen     uint64 // instance generation the handle belongs to
	handle  int32
	closed  bool
	learned []string // origins of token endpoints read from the discovery document
}

// NewClient creates a client from the config JSON of core.ParseConfigJSON
// (an empty document means "all from the environment", see WithEnv). The
// config is validated by the guest's core; errors are *core.Error of kind
// CONFIG. No network request is made. A ctx that has ended, or that ends
// while NewClient waits for the instance, is a TIMEOUT error.
//
// Ownership: cfg is copied; the caller may reuse it.
func (p *Plugin) NewClient(ctx context.Context, cfg []byte) (*Client, error) {
	if ctx.Err() != nil {
		return nil, gaveUp("config", ctx)
	}
	c := &Client{p: p, cfg: append([]byte(nil), cfg...)}
	// The host resolves the same JSON with the same environment as the
	// guest (the core's own code, not a copy of it) to learn which origins
	// the client may reach and which files the guest's core reads for it,
	// and builds the transport it will use (the configured CA and client
	// certificates live on the host).
	var hostErr error
	var secrets []string
	if parsed, err := core.ParseConfigJSON(c.cfg); err != nil {
		hostErr = err
	} else if rc, err := parsed.Resolve(p.lookupEnv); err != nil {
		hostErr = err
		secrets = rc.Secrets()
	} else {
		secrets = rc.Secrets()
		c.timeout = rc.Timeout
		c.origins, c.discovery, c.tls = wire.Policy(rc)
		c.files = credentialPaths(rc, p.wd)
		if c.tr, err = core.NewHTTPTransport(rc); err != nil {
			return nil, err
		}
	}
	c.scrub = redact.NewScrubber(secrets...)
	if err := p.lockFor(ctx); err != nil {
		return nil, gaveUp("config", ctx)
	}
	defer p.unlockFor()
	in, err := p.instance(ctx)
	if err != nil {
		return nil, err
	}
	// Before zb_client_new: the core reads the files when it creates the
	// client (and again when it is recreated after a trap).
	p.files.grant(c.files)
	if err := c.attach(in); err != nil {
		p.files.revoke(c.files)
		return nil, err
	}
	if hostErr != nil { // the guest accepted what the host refused: never expected
		c.detach()
		p.files.revoke(c.files)
		return nil, &core.Error{Kind: core.KindInternal, Op: "config", Msg: "the plugin accepted a configuration the host could not resolve", Err: hostErr}
	}
	return c, nil
}

// attach creates the guest side of c in in. p.mu must be held.
func (c *Client) attach(in *instance) error {
	call := in.newCall()
	in.syncCall, in.syncDone = call, false
	err := in.withArgs([][]byte{c.cfg}, func(ptrs []uint32) error {
		return in.drive(in.f.clientNew, api.EncodeI32(call), api.EncodeU32(ptrs[0]), api.EncodeI32(int32(len(c.cfg))))
	})
	in.syncCall = 0
	if err != nil {
		return err
	}
	if !in.syncDone {
		return &core.Error{Kind: core.KindInternal, Op: "config", Msg: "the plugin did not answer zb_client_new"}
	}
	if in.syncErr != nil {
		return in.syncErr
	}
	if in.syncStatus != 0 {
		e, _ := decodeError("config", in.syncStatus, in.syncPayload)
		return e
	}
	var out wire.ClientNew
	if jsonx.Unmarshal(in.syncPayload, &out) != nil || out.Client <= 0 {
		return &core.Error{Kind: core.KindInternal, Op: "config", Msg: "the plugin answered zb_client_new with a malformed payload"}
	}
	// The host enforces its own resolution (it builds the transport from
	// it, and a module must not widen its own reach); the guest's must say
	// the same, or the two resolve differently and neither is trusted.
	if c.tr != nil && (!slices.Equal(out.Origins, c.origins) || out.DiscoveryURL != c.discovery || out.TLS != c.tls) {
		in.clients[out.Client] = c
		c.gen, c.handle = in.gen, out.Client
		c.detach()
		return &core.Error{Kind: core.KindInternal, Op: "config", Msg: "the plugin's origins or TLS settings differ from the host's resolution of the same configuration"}
	}
	in.clients[out.Client] = c
	c.gen, c.handle = in.gen, out.Client
	return nil
}

// detach closes the guest side of c if it lives in the current instance.
// p.mu must be held.
func (c *Client) detach() {
	in := c.p.inst
	if in == nil || in.dead != nil || in.gen != c.gen {
		return
	}
	delete(in.clients, c.handle)
	c.token.drop()
	in.drive(in.f.clientClose, api.EncodeI32(c.handle))
}

// Close ends the client. Calls in progress end with an ARGUMENT error;
// so do later calls. Close is idempotent.
func (c *Client) Close() error {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.detach()
	c.p.files.revoke(c.files)
	if c.tr != nil {
		c.tr.CloseIdleConnections()
	}
	return nil
}

// String describes c without its configuration, which holds the client
// secret (as does the environment a Plugin keeps). It takes no lock.
func (c *Client) String() string {
	return "host.Client{origins:" + strings.Join(c.origins, ",") + "}"
}

// GoString makes %#v as safe as %v.
func (c *Client) GoString() string { return c.String() }

// redact removes c's secret and its recent tokens from s. Errors the core
// builds are clean already (the guest's core removes them); this is for
// texts it did not build: the guest's stderr and crash reports.
func (c *Client) redact(s string) string { return c.scrub.Scrub(s) }

// allows reports whether the guest may send this client's request to u.
// p.mu must be held.
func (c *Client) allows(u string) bool {
	o, ok := originOf(u)
	return ok && (slices.Contains(c.origins, o) || slices.Contains(c.learned, o))
}

// learn reads the discovery document when h was the request for it and
// it succeeded, and lets the client reach its token endpoint's origin.
// The core in the guest reads the same body with the same parser
// (core.ParseDiscovery); a redirected or failed fetch teaches nothing.
// p.mu must be held.
func (c *Client) learn(h *httpCall, resp *core.Response) {
	if c.discovery == "" || h.req.Method != "GET" || h.req.URL != c.discovery || resp.Status != 200 {
		return
	}
	d, err := core.ParseDiscovery(resp.Body)
	if err != nil {
		return
	}
	if o, ok := wire.LearnedOrigin(d.TokenEndpoint, c.tls.AllowInsecureHTTP); ok && !slices.Contains(c.origins, o) && !slices.Contains(c.learned, o) {
		c.learned = append(c.learned, o)
	}
}

// Token returns a valid access token (core.Client.Token in the guest). A
// cached token comes from the host's copy (tokenCopy), without entering
// the module.
func (c *Client) Token(ctx context.Context) (string, error) {
	tok, ok, ask := c.token.get()
	if ok {
		return tok, nil
	}
	if ask {
		defer c.token.asked()
		return c.guestToken(ctx)
	}
	// No usable copy, so every caller would wait for the guest's one token
	// request: one zb_token call is made for all of them, instead of each
	// entering the module to join the request there (a cold burst of 1,000
	// callers was 1,000 exports). It is nobody's own call, so that no
	// caller's deadline ends it for the others: the guest's core bounds it
	// with the client's timeout, and each caller waits only as long as its
	// ctx allows. The host bounds it too, answerSlack later, so that a
	// flight the guest never answered cannot hold every later caller.
	f := c.flight.Do(func() (string, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(c.timeout, core.DefaultTimeout)+answerSlack)
		defer cancel()
		return c.guestToken(ctx)
	})
	select {
	case <-f.Done():
		return f.Result()
	case <-ctx.Done():
		return "", gaveUp("token", ctx)
	}
}

// guestToken is zb_token.
func (c *Client) guestToken(ctx context.Context) (string, error) {
	var tok string
	err := c.invoke(ctx, "token",
		func(in *instance, h, call, ms int32) error {
			in.p.stats.TokenCalls++
			return in.drive(in.f.token, api.EncodeI32(call), api.EncodeI32(h), api.EncodeI32(ms))
		},
		func(status int32, payload []byte) error {
			if status != 0 {
				e, _ := decodeError("token", status, payload)
				return e
			}
			tok = string(payload)
			c.scrub.NoteToken(tok)
			return nil
		})
	return tok, err
}

// Topology fetches GET /v1/topology (core.Client.Topology in the guest).
func (c *Client) Topology(ctx context.Context) (*core.Topology, error) {
	var t *core.Topology
	err := c.invoke(ctx, "topology",
		func(in *instance, h, call, ms int32) error {
			return in.drive(in.f.topology, api.EncodeI32(call), api.EncodeI32(h), api.EncodeI32(ms))
		},
		func(status int32, payload []byte) error {
			if status != 0 {
				e, _ := decodeError("topology", status, payload)
				return e
			}
			var err error
			if t, err = core.ParseTopology(payload); err != nil {
				return &core.Error{Kind: core.KindInternal, Op: "topology", Msg: "the plugin returned a malformed topology", Err: err}
			}
			return nil
		})
	return t, err
}

// Do makes an authenticated request to the REST API (core.Client.Do in the
// guest): method, a path relative to the REST address, and an optional
// JSON body (nil: none). Like the core, a status of 400 or more returns the
// response and a KindAPI error.
//
// Ownership: body is copied into the guest before Do waits.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (*core.Response, error) {
	var resp *core.Response
	err := c.invoke(ctx, "request",
		func(in *instance, h, call, ms int32) error {
			bodyLen := int32(-1)
			if body != nil {
				if int64(len(body)) > in.p.opts.maxRequestBody {
					return &core.Error{Kind: core.KindArgument, Op: "request", Msg: "the request body exceeds the plugin's limit"}
				}
				bodyLen = int32(len(body))
			}
			return in.withArgs([][]byte{[]byte(method), []byte(path), body}, func(ptrs []uint32) error {
				return in.drive(in.f.request, api.EncodeI32(call), api.EncodeI32(h), api.EncodeI32(ms),
					api.EncodeU32(ptrs[0]), api.EncodeI32(int32(len(method))),
					api.EncodeU32(ptrs[1]), api.EncodeI32(int32(len(path))),
					api.EncodeU32(ptrs[2]), api.EncodeI32(bodyLen))
			})
		},
		func(status int32, payload []byte) error {
			if status != 0 {
				e, r := decodeError("request", status, payload)
				resp = r
				return e
			}
			r, ok := parseResponsePayload(payload)
			if !ok {
				return &core.Error{Kind: core.KindInternal, Op: "request", Msg: "the plugin returned a malformed response"}
			}
			resp = r
			return nil
		})
	return resp, err
}

// startFunc calls the operation's export for call with client handle h
// and the caller's remaining time in ms (0: no deadline of its own; the
// client's timeout still bounds the guest's work). p.mu is held.
type startFunc func(in *instance, h, call, ms int32) error

// decodeFunc turns a call's status and payload into the operation's
// result. On the synchronous path it runs under p.mu and payload is only
// valid during the call.
type decodeFunc func(status int32, payload []byte) error

// invoke runs one operation: start it under the instance lock; if the
// guest finished it within that export (a cached token), decode at once;
// otherwise wait, without the lock, for its call_done — delivered by
// whichever goroutine's export completes it — or for ctx.
//
// Waiting for the lock and for call_done ends with ctx, and with the
// watchdog's answerBound: the guest lost the call.
func (c *Client) invoke(ctx context.Context, op string, start startFunc, decode decodeFunc) error {
	ms := remainingMS(ctx)
	p := c.p
	if p.lockFor(ctx) != nil {
		return gaveUp(op, ctx)
	}
	in, h, err := c.acquire(ctx, op)
	if err != nil {
		p.unlockFor()
		return err
	}
	call := in.newCall()
	in.syncCall, in.syncDone = call, false
	err = start(in, h, call, ms)
	in.syncCall = 0
	if err != nil {
		p.unlockFor()
		return err
	}
	if in.syncDone {
		if in.syncErr != nil {
			err = in.syncErr
		} else {
			err = decode(in.syncStatus, in.syncPayload)
		}
		p.unlockFor()
		return err
	}
	w := &waiter{ch: make(chan result, 1)}
	in.calls[call] = w
	p.unlockFor()

	var lost <-chan time.Time
	bound := c.answerBound(op)
	if bound > 0 {
		t := time.NewTimer(bound)
		defer t.Stop()
		lost = t.C
	}
	select {
	case r := <-w.ch:
		return finishResult(r, decode)
	case <-ctx.Done():
		if ms > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The guest was given this deadline and ends the call itself,
			// with the error the native client gives, as soon as a step
			// shows it its timer; a cancel sent first would be reported
			// as a cancel instead.
			t := time.NewTimer(deadlineGrace)
			select {
			case r := <-w.ch:
				t.Stop()
				return finishResult(r, decode)
			case <-t.C:
			}
		}
	case <-lost:
	}
	// The caller gave up, or the guest will not answer: cancel the guest's
	// call. The guest reports it (as the core reports a cancelled context)
	// within zb_cancel, normally. The lock may be held by an export that is
	// stuck (until the watchdog stops it): then the cancel is left to a
	// goroutine rather than making the caller wait past its ctx.
	if p.mu.lockWithin(cancelWait) {
		in.forget(call, w)
		p.mu.Unlock()
	} else {
		go func() {
			p.mu.Lock()
			in.forget(call, w)
			p.mu.Unlock()
		}()
	}
	select {
	case r := <-w.ch:
		return finishResult(r, decode)
	default:
	}
	if ctx.Err() != nil {
		return gaveUp(op, ctx)
	}
	return &core.Error{Kind: core.KindTimeout, Op: op, Msg: fmt.Sprintf("the plugin did not answer within %v; the call was abandoned", bound)}
}

// deadlineGrace is how long a caller whose deadline passed waits for the
// guest to report that deadline itself before the host cancels the call:
// a few step intervals.
const deadlineGrace = 50 * time.Millisecond

// cancelWait is how long a caller who gave up waits for the lock to cancel
// its call in the guest (it then gets the guest's own report of it).
const cancelWait = 100 * time.Millisecond

// forget cancels call in the guest (zb_cancel) if the host still waits for
// it, and stops waiting. p.mu must be held.
func (in *instance) forget(call int32, w *waiter) {
	if in.dead == nil && in.calls[call] == w {
		in.drive(in.f.cancel, api.EncodeI32(call))
	}
	if in.calls[call] == w {
		delete(in.calls, call)
	}
}

// answerBound is how long a call waits for the guest's answer, whatever
// its ctx allows, while the watchdog is on: longer than the guest's core
// can take with the client's timeout T, plus answerSlack. The core bounds
// a token acquisition, with its retries, and each HTTP request by T; a
// request makes at most 14 of them (a token and the request with 5
// redirects, twice after a 401). Only a guest that lost the call meets it.
func (c *Client) answerBound(op string) time.Duration {
	if c.p.opts.exportTimeout <= 0 {
		return 0
	}
	t := cmp.Or(c.timeout, core.DefaultTimeout)
	if op == "token" {
		return t + answerSlack
	}
	return 14*t + answerSlack
}

// answerSlack is added to the core's own bounds (answerBound, a token
// flight): more than the guest's step interval, by which its deadlines
// fire, and the HTTP delivery after them.
const answerSlack = 2 * time.Second

// gaveUp is the error of a call whose caller's ctx ended first.
func gaveUp(op string, ctx context.Context) error {
	return &core.Error{Kind: core.KindTimeout, Op: op, Msg: "request timed out or was cancelled", Err: ctx.Err()}
}

func finishResult(r result, decode decodeFunc) error {
	if r.err != nil {
		return r.err
	}
	return decode(r.status, r.payload)
}

// acquire returns the live instance and c's handle in it, creating either
// as needed (after a trap, the client is recreated from its config).
// p.mu must be held.
func (c *Client) acquire(ctx context.Context, op string) (*instance, int32, error) {
	if c.closed {
		return nil, 0, &core.Error{Kind: core.KindArgument, Op: op, Msg: "client is closed"}
	}
	in, err := c.p.instance(ctx)
	if err != nil {
		return nil, 0, err
	}
	if c.gen != in.gen {
		if err := c.attach(in); err != nil {
			return nil, 0, err
		}
	}
	return in, c.handle, nil
}

// remainingMS is ctx's remaining time in whole milliseconds, at least 1,
// or 0 without a deadline.
func remainingMS(ctx context.Context) int32 {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	ms := time.Until(dl).Milliseconds()
	return int32(min(max(ms, 1), math.MaxInt32))
}

// decodeError rebuilds the guest's *core.Error from an error payload, and
// the response attached to it (REST API errors of zb_request). Its Error()
// text is the guest's; errors.Is finds core.ErrBodyTooLarge and the
// context errors through the cause.
func decodeError(op string, status int32, payload []byte) (*core.Error, *core.Response) {
	var w wire.Error
	if err := jsonx.Unmarshal(payload, &w); err != nil {
		return &core.Error{Kind: core.Kind(status), Op: op, Msg: "the plugin reported an error with a malformed payload"}, nil
	}
	e := w.Rebuild()
	e.Kind = core.Kind(status)
	if w.Cause != "" {
		e.Err = &guestCause{msg: w.Cause}
	}
	var resp *core.Response
	if w.Response != nil {
		resp = &core.Response{Status: w.Response.Status, Header: w.Response.Header, Body: w.Response.Body}
		if resp.Body == nil {
			resp.Body = []byte{}
		}
	}
	return e, resp
}

// guestCause stands for the guest-side cause of an error: its text, and
// the well-known sentinel errors it names.
type guestCause struct{ msg string }

func (g *guestCause) Error() string { return g.msg }

func (g *guestCause) Is(target error) bool {
	switch target {
	case core.ErrBodyTooLarge, context.DeadlineExceeded, context.Canceled:
		return strings.Contains(g.msg, target.Error())
	}
	return false
}
