package core

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zbauth/zbauth/internal/flight"
	"github.com/zbauth/zbauth/internal/jsonx"
	"github.com/zbauth/zbauth/internal/tokenrule"
	"github.com/zbauth/zbauth/internal/wakeup"
)

// maxTokenBody caps how much of a token endpoint response is read.
const maxTokenBody = 1 << 20

// DefaultAuthErrorCooldown is how long a refusal from the token endpoint
// (400 or 401) is answered from memory before the next request is made.
const DefaultAuthErrorCooldown = 30 * time.Second

// maxTokenAttempts bounds the attempts of one token acquisition; only 429,
// 5xx and network errors are retried.
const maxTokenAttempts = 5

// DefaultRefreshMargin is how long before expiry a token is refreshed in
// the background. Short-lived tokens use a quarter of their lifetime instead
// when that is smaller.
const DefaultRefreshMargin = 30 * time.Second

// minFetchInterval is the least time between two token requests of one
// client, however many callers ask and whatever fails. Camunda SaaS allows
// about one per second per client address.
const minFetchInterval = time.Second

// tokenState is a token as a request (or the disk cache) gave it.
type tokenState struct {
	value     string
	refreshAt time.Time // from here on, refresh in the background
	expiry    time.Time // from here on, unusable; zero: no expiry known
}

func (t *tokenState) usable(now time.Time) bool {
	return t.expiry.IsZero() || now.Before(t.expiry)
}

// snapshot is a published tokenrule.Snapshot (the client's cached token
// as it may be handed out, docs/token-cache.md) with what Go's own fast
// path needs.
type snapshot struct {
	tokenrule.Snapshot
	// due turns true at FreshUntil (set by a timer while the snapshot is
	// the current one), so the fast path is one atomic load instead of a
	// clock read. A late timer only delays the early refresh; a snapshot
	// whose freshness ends with the token (a refresh runs) is due at once,
	// so that no late timer hands out an expired token.
	due atomic.Bool
	// claimed: a caller in the usable window went to start the refresh,
	// so the others need not (tokenrule.Usable's one caller).
	claimed atomic.Bool
	timer   *time.Timer
}

// arm sets up due; retire stops its timer. Both run under tokenSource.mu.
func (n *snapshot) arm() {
	if n.FreshUntil == math.MaxInt64 {
		return // no expiry known: never due
	}
	d := time.Duration(n.FreshUntil - tokenrule.Monotonic())
	if !refreshTimers || d <= 0 || n.FreshUntil >= n.UsableUntil {
		n.due.Store(true) // every call reads the clock
		return
	}
	n.timer = time.AfterFunc(d, func() { n.due.Store(true) })
}

func (n *snapshot) retire() {
	if n != nil && n.timer != nil {
		n.timer.Stop()
	}
}

// memo is the outcome of a finished request, given again until until.
type memo struct {
	f     *flight.Flight[string]
	until time.Time
}

func (m memo) active(now time.Time) bool { return m.f != nil && now.Before(m.until) }

// tokenSource caches one token and refreshes it with at most one request
// in flight. Callers read snap, an immutable snapshot, with one atomic
// load; everything else is guarded by mu, and published to snap (and the
// observer) on each change.
type tokenSource struct {
	fetch    func(ctx context.Context) (*tokenState, error)
	timeout  time.Duration // bounds each fetch, independent of any caller
	cooldown time.Duration
	observe  func(tokenrule.Snapshot) // corehook.WithTokenObserver; told under mu
	// ctx ends with Close: it cancels the request in flight, and nothing
	// is cached or reported after it.
	ctx    context.Context
	cancel context.CancelFunc

	snap atomic.Pointer[snapshot] // nil: no token

	mu     sync.Mutex
	tok    *tokenState            // the cached token; nil: none
	flight *flight.Flight[string] // the request in progress (or waiting its turn)
	waited bool                   // a caller waits for flight
	// notBefore is when the next token request may be sent: a second
	// after the last one (each attempt of a flight counts), or later when
	// the server asked so (Retry-After).
	notBefore time.Time
	// failed is the last request's failure, given to callers without a
	// usable token (waiting or not) instead of a new request: for
	// minFetchInterval when nobody waited for it (TryToken started it, so
	// its caller learns how it ended), and while a Retry-After lasts.
	failed memo
	// refused is a definitive refusal (400/401 from the token endpoint),
	// given to every caller without a usable token for the cooldown, so
	// that a fleet with a wrong secret does not hammer the endpoint
	// (Camunda SaaS tarpits).
	refused memo
}

func newTokenSource(fetch func(context.Context) (*tokenState, error), timeout, cooldown time.Duration,
	observe func(tokenrule.Snapshot)) *tokenSource {
	s := &tokenSource{fetch: fetch, timeout: timeout, cooldown: cooldown, observe: observe}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// publish makes snap (and the observer) reflect tok, flight and refused.
// While a refresh runs, or a refusal's cooldown lasts, there is nothing to
// start: the token is fresh until then (or until it expires). mu held.
func (s *tokenSource) publish() {
	var n *snapshot
	if t := s.tok; t != nil {
		n = &snapshot{}
		n.Value = t.value
		n.FreshUntil, n.UsableUntil = math.MaxInt64, math.MaxInt64
		if !t.expiry.IsZero() {
			n.UsableUntil = tokenrule.MonotonicAt(t.expiry)
			n.FreshUntil = n.UsableUntil
			if s.flight == nil {
				n.FreshUntil = tokenrule.MonotonicAt(t.refreshAt)
				if s.refused.active(time.Now()) {
					n.FreshUntil = max(n.FreshUntil, tokenrule.MonotonicAt(s.refused.until))
				}
			}
			n.FreshUntil = min(n.FreshUntil, n.UsableUntil)
		}
		n.arm()
	}
	s.snap.Swap(n).retire()
	if s.observe != nil {
		if n == nil {
			s.observe(tokenrule.Snapshot{})
		} else {
			s.observe(n.Snapshot)
		}
	}
}

// token returns a usable token, waiting only when none is cached.
func (s *tokenSource) token(ctx context.Context) (string, error) {
	if v, ok := s.cached(); ok {
		return v, nil
	}
	f, v := s.startFlight(true)
	if f == nil {
		return v, nil
	}
	// A caller that gives up does not cancel the request: others may be
	// waiting on it, and its token will be cached for the next caller.
	select {
	case <-f.Done():
		return f.Result()
	case <-ctx.Done():
		return "", ctxError("token", ctx.Err())
	}
}

// cached returns a usable cached token without waiting, starting a
// background refresh when the token is in its refresh window.
func (s *tokenSource) cached() (string, bool) {
	n := s.snap.Load()
	if n == nil {
		return "", false
	}
	if !n.due.Load() {
		return n.Value, true
	}
	switch n.Rule(tokenrule.Monotonic()) {
	case tokenrule.Fresh:
		return n.Value, true
	case tokenrule.Usable:
		if n.claimed.CompareAndSwap(false, true) {
			s.startFlight(false) // early refresh; do not wait for it
		}
		return n.Value, true
	}
	return "", false
}

// tryToken never waits: a usable cached token, or the remembered refusal
// during its cooldown, or ErrWouldBlock after starting (or joining) a
// token request in the background.
func (s *tokenSource) tryToken() (string, error) {
	if v, ok := s.cached(); ok {
		return v, nil
	}
	f, v := s.startFlight(false)
	if f == nil {
		return v, nil
	}
	select {
	case <-f.Done():
		return f.Result()
	default:
		return "", ErrWouldBlock
	}
}

// join is tryToken for a caller that waits by callback: without an
// answer at once, it joins the request and cb gets its outcome.
func (s *tokenSource) join(cb func(string, error)) (string, bool, error) {
	if v, ok := s.cached(); ok {
		return v, false, nil
	}
	f, v := s.startFlight(true)
	if f == nil {
		return v, false, nil
	}
	if f.Join(cb) {
		return "", true, nil
	}
	v, err := f.Result()
	return v, false, err
}

// startFlight returns the request in flight, starting one if there is none.
// It returns nil and the token when no request is due: the cached token is
// fresh, or it is still usable while a recent refusal's cooldown lasts.
// With no usable token during a cooldown it returns a finished flight
// carrying the refusal, so callers get the error again without a request.
func (s *tokenSource) startFlight(waiter bool) (*flight.Flight[string], string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flight != nil {
		s.waited = s.waited || waiter
		return s.flight, ""
	}
	now := time.Now()
	t := s.tok
	usable := t != nil && t.usable(now)
	if t != nil && now.Before(t.refreshAt) {
		return nil, t.value
	}
	if !usable && s.failed.active(now) {
		return s.failed.f, ""
	}
	if s.refused.active(now) {
		if usable {
			return nil, t.value
		}
		return s.refused.f, ""
	}
	f := flight.New[string]()
	s.flight, s.waited = f, waiter
	if usable {
		// While the refresh runs, the old token is the answer, until run
		// publishes how it ended.
		s.publish()
	}
	go s.run(f, s.notBefore.Sub(now))
	return f, ""
}

func (s *tokenSource) run(f *flight.Flight[string], delay time.Duration) {
	if delay > 0 {
		timer := time.NewTimer(delay)
		wakeup.Note(delay) // the Wasm guest's host must call in by then
		select {
		case <-timer.C:
		case <-s.ctx.Done():
			timer.Stop()
		}
	}
	var tok *tokenState
	var err error
	if s.ctx.Err() == nil {
		s.paced(time.Now(), 0)
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
		wakeup.Note(s.timeout)
		tok, err = s.fetch(ctx)
		cancel()
	}
	s.mu.Lock()
	s.flight = nil
	s.failed = memo{}
	// Checked under mu, which close holds while it reports the end: once
	// closed, nothing is cached or reported any more.
	switch {
	case s.ctx.Err() != nil:
		tok, err = nil, errClosed()
	case err == nil:
		s.tok, s.refused = tok, memo{}
		s.publish()
	default:
		now := time.Now()
		if until := now.Add(minFetchInterval); !s.waited || s.notBefore.After(until) {
			s.failed = memo{flight.Finished("", err), later(until, s.notBefore)}
		}
		if isRefusal(err) && s.cooldown > 0 {
			s.refused = memo{flight.Finished("", err), now.Add(s.cooldown)}
		}
		if s.tok != nil {
			// The refresh failed: the old token is fresh no longer (unless
			// a cooldown holds off the next request), so a caller asks again.
			s.publish()
		}
	}
	s.mu.Unlock()
	v := ""
	if tok != nil {
		v = tok.value
	}
	f.Finish(v, err)
}

// paced records a token request sent at sentAt, and the Retry-After its
// answer carried (0: none): the next request, in this flight or the next,
// waits for both. Without it a flight whose last attempt came late would
// let the next flight send at once, and a Retry-After longer than the time
// left would be forgotten with the flight.
func (s *tokenSource) paced(sentAt time.Time, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := sentAt.Add(minFetchInterval)
	if retryAfter > 0 {
		next = later(next, time.Now().Add(retryAfter))
	}
	s.notBefore = later(s.notBefore, next)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func errClosed() error { return &Error{Kind: KindArgument, Op: "token", Msg: "client is closed"} }

// isRefusal reports whether err is the token endpoint definitively refusing
// the credentials or request (400 or 401): retrying cannot help.
func isRefusal(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == KindAuth && (e.Status == 400 || e.Status == 401)
}

// invalidate drops the cached token if it is still old, so that the next
// call fetches a new one.
func (s *tokenSource) invalidate(old string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() == nil && s.tok != nil && s.tok.value == old {
		s.tok = nil
		s.publish()
	}
}

func (s *tokenSource) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() == nil {
		s.cancel()
		s.tok = nil
		s.publish()
	}
}

// tokenResponse is the decoded answer of a token endpoint.
type tokenResponse struct {
	AccessToken string
	TokenType   string
	// ExpiresIn is the lifetime the server announced; 0 means none was given
	// (or it was 0), and the token is kept until the REST API rejects it.
	ExpiresIn time.Duration
}

// String never shows the token.
func (r tokenResponse) String() string {
	return "TokenResponse{AccessToken:[REDACTED] TokenType:" + strconv.Quote(r.TokenType) + " ExpiresIn:" + r.ExpiresIn.String() + "}"
}

// GoString makes %#v redact too.
func (r tokenResponse) GoString() string { return r.String() }

type tokenWire struct {
	AccessToken      *string     `json:"access_token"`
	TokenType        string      `json:"token_type"`
	ExpiresIn        flexSeconds `json:"expires_in"`
	Error            string      `json:"error"`
	ErrorDescription string      `json:"error_description"`
}

// maxExpiresIn is the longest expires_in accepted, in seconds (about 31
// years): far beyond any real token lifetime, and well inside a
// time.Duration.
const maxExpiresIn = 1e9

// flexSeconds accepts a JSON number or a numeric string, as some identity
// providers send expires_in as "300". Decoding never fails: bad records an
// unusable value, so that parseTokenResponse can say what was wrong
// instead of "malformed JSON".
type flexSeconds struct {
	v   float64
	bad bool
}

func (f *flexSeconds) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	v, err := strconv.ParseFloat(s, 64)
	// Written so that NaN (which ParseFloat accepts in a string, and which
	// fails every comparison) is refused too.
	f.v, f.bad = v, !(err == nil && v >= 0 && v <= maxExpiresIn)
	return nil
}

// validAccessToken reports whether tok can be sent as a bearer token: one
// or more visible ASCII characters (0x21-0x7E). That covers RFC 6750's
// b64token (JWTs, Keycloak's and Entra's tokens) and opaque tokens with
// other punctuation, and keeps out what would corrupt an Authorization
// header or a shell's $(zbauth token): CR, LF, NUL and other control
// characters, spaces, and anything that is not ASCII (or not UTF-8).
func validAccessToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x21 || tok[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseTokenResponse interprets a token endpoint's answer. A non-2xx status
// gives a KindAuth error carrying the status and the OAuth error fields; so
// does a 2xx answer without access_token or with a token_type other than
// Bearer, with an access token that is not all visible ASCII, or with an
// expires_in that is not a number of seconds from 0 to 1e9. Error
// texts never include the token, and known secrets (red) are removed from
// every server-supplied text before it is shortened, so that no part of a
// secret survives a cut.
func parseTokenResponse(status int, body []byte, red redactor) (tokenResponse, error) {
	if status >= 300 && status <= 399 {
		return tokenResponse{}, &Error{Kind: KindAuth, Op: "token", Status: status,
			Msg: "token endpoint answered with a redirect, which is not followed because the request carries the client secret; configure the final token URL"}
	}
	var w tokenWire
	werr := jsonx.Unmarshal(body, &w)
	if w.AccessToken != nil && *w.AccessToken != "" {
		// A confused or hostile endpoint may repeat the token in its texts.
		red = redactorWith(red, *w.AccessToken)
	}
	if status < 200 || status > 299 {
		e := &Error{Kind: KindAuth, Op: "token", Msg: "token endpoint refused the request", Status: status}
		if werr == nil {
			e.OAuthError = red.text(w.Error, 200)
			e.OAuthDescription = red.text(w.ErrorDescription, 500)
		}
		return tokenResponse{}, e
	}
	if werr != nil {
		return tokenResponse{}, &Error{Kind: KindAuth, Op: "token", Msg: "token endpoint sent malformed JSON", Status: status}
	}
	if w.AccessToken == nil || *w.AccessToken == "" {
		return tokenResponse{}, &Error{Kind: KindAuth, Op: "token", Msg: "token response has no access_token", Status: status,
			OAuthError: red.text(w.Error, 200), OAuthDescription: red.text(w.ErrorDescription, 500)}
	}
	if !validAccessToken(*w.AccessToken) {
		// Never cached or handed out; the message does not show it.
		return tokenResponse{}, &Error{Kind: KindAuth, Op: "token", Status: status,
			Msg: "token endpoint returned an unusable access token: it may hold only visible ASCII characters, no spaces or control characters"}
	}
	if w.TokenType != "" && !strings.EqualFold(w.TokenType, "bearer") {
		return tokenResponse{}, &Error{Kind: KindAuth, Op: "token", Status: status,
			// Not strconv.Quote: the text is already cleaned and shortened.
			Msg: `token_type "` + red.text(w.TokenType, 40) + `" is not Bearer`}
	}
	if w.ExpiresIn.bad {
		return tokenResponse{}, &Error{Kind: KindAuth, Op: "token", Status: status,
			Msg: "expires_in is not a finite, non-negative number of seconds (at most 1e9)"}
	}
	return tokenResponse{
		AccessToken: *w.AccessToken,
		TokenType:   w.TokenType,
		ExpiresIn:   time.Duration(w.ExpiresIn.v * float64(time.Second)),
	}, nil
}

// lifetime turns a token response sent at sentAt into cache times.
func lifetime(sentAt time.Time, expiresIn, margin time.Duration) (refreshAt, expiry time.Time) {
	if expiresIn <= 0 {
		far := sentAt.Add(100 * 365 * 24 * time.Hour)
		return far, time.Time{}
	}
	// Issuers put whole seconds, rounded down, into the JWT's exp, so the
	// server may consider the token expired up to a second before
	// sentAt+expiresIn: stop using it that much earlier.
	skew := time.Second
	if s := expiresIn / 10; s < skew {
		skew = s
	}
	expiresIn -= skew
	m := margin
	if q := expiresIn / 4; q < m {
		m = q
	}
	return sentAt.Add(expiresIn - m), sentAt.Add(expiresIn)
}
