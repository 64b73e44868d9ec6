package core

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zbauth/zbauth/internal/jsonx"
)

// MaxTokenBody caps how much of a token endpoint response is read.
const MaxTokenBody = 1 << 20

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

// tokenState is one cached token. It is immutable once published.
type tokenState struct {
	value     string
	refreshAt time.Time // from here on, refresh in the background
	expiry    time.Time // from here on, unusable; zero: no expiry known

	// due turns true at refreshAt (set by a timer while the token is the
	// current one), so the fast path is one atomic load instead of a clock
	// read: time.Now costs more than everything else on that path and does
	// not scale across cores on some VMs. A late timer only delays the
	// early refresh; the slow path below still reads the clock.
	due   atomic.Bool
	timer *time.Timer
}

// publish arms t's refresh timer; retire stops it. Both run under
// tokenSource.mu.
func (t *tokenState) publish() {
	if t.expiry.IsZero() {
		return // no expiry known: never due
	}
	if !refreshTimers {
		t.due.Store(true) // every call reads the clock
		return
	}
	if d := time.Until(t.refreshAt); d > 0 {
		t.timer = time.AfterFunc(d, func() { t.due.Store(true) })
	} else {
		t.due.Store(true)
	}
}

func (t *tokenState) retire() {
	if t != nil && t.timer != nil {
		t.timer.Stop()
	}
}

func (t *tokenState) usable(now time.Time) bool {
	return t.expiry.IsZero() || now.Before(t.expiry)
}

// flight is one token request in progress; waiters block on done.
type flight struct {
	done   chan struct{}
	waited bool // a caller has waited on it (guarded by tokenSource.mu)
	tok    *tokenState
	err    error
}

// tokenSource caches one token and refreshes it with at most one request
// in flight. The fast path (a fresh token) is one atomic load: no lock, no
// allocation.
type tokenSource struct {
	fetch   func(ctx context.Context) (*tokenState, error)
	timeout time.Duration // bounds each fetch, independent of any caller

	cur atomic.Pointer[tokenState]

	mu     sync.Mutex
	flight *flight // non-nil while a request runs (or waits its turn)
	// busy mirrors flight != nil so that callers in the refresh window
	// skip the lock while the refresh runs: under contention a mutex can
	// park them, and they must never wait for an early refresh.
	busy      atomic.Bool
	lastFetch time.Time // when the last request started
	// failed is the failure of a request nobody waited for (TryToken
	// started it, and it failed before its caller came back to wait).
	// Waiters within minFetchInterval get it instead of waiting for a
	// second request.
	failed      *flight
	failedUntil time.Time
	closed      chan struct{}

	// A definitive refusal (400/401 from the token endpoint) is remembered
	// for cooldown: callers get it again without a request, so a fleet with
	// a wrong secret does not hammer the endpoint (Camunda SaaS tarpits).
	cooldown     time.Duration
	refused      *flight // a finished flight carrying the refusal
	refusedUntil time.Time
	// quietUntil (Unix ns) mirrors refusedUntil for the lock-free path:
	// in the refresh window during a cooldown there is nothing to start.
	quietUntil atomic.Int64

	// observe, when set (WithTokenObserver), is told under mu of every
	// change of cur, and of how long its token may be handed out (see
	// report).
	observe func(token string, fresh, usable time.Duration)
}

// forever is how long a token without a known expiry stays fresh.
const forever = 100 * 365 * 24 * time.Hour

// What report says of a token besides its value.
const (
	cachedState     = iota // just cached: fresh until its refresh point
	refreshingState        // a refresh runs: fresh until it expires
	failedState            // the refresh failed: usable, not fresh
)

// report tells the observer of t (nil: none cached) in state. fresh is how
// long it may be handed out without asking; usable, how long it may still
// be handed out while one caller at a time asks (cached hands it out in
// the refresh window and starts a refresh when none runs). mu must be held.
func (s *tokenSource) report(t *tokenState, state int) {
	if s.observe == nil {
		return
	}
	if t == nil {
		s.observe("", 0, 0)
		return
	}
	usable := forever
	if !t.expiry.IsZero() {
		usable = max(time.Until(t.expiry), 0)
	}
	fresh := usable
	switch state {
	case cachedState:
		if !t.expiry.IsZero() {
			fresh = max(time.Until(t.refreshAt), 0)
		}
	case failedState:
		fresh = 0
	}
	s.observe(t.value, fresh, usable)
}

func newTokenSource(fetch func(context.Context) (*tokenState, error), timeout, cooldown time.Duration,
	observe func(token string, fresh, usable time.Duration)) *tokenSource {
	return &tokenSource{fetch: fetch, timeout: timeout, cooldown: cooldown, observe: observe, closed: make(chan struct{})}
}

// token returns a usable token, waiting only when none is cached.
func (s *tokenSource) token(ctx context.Context) (string, error) {
	if v, ok := s.cached(); ok {
		return v, nil
	}
	return s.wait(ctx)
}

// cached returns a usable cached token without waiting, starting a
// background refresh when the token is in its refresh window.
func (s *tokenSource) cached() (string, bool) {
	t := s.cur.Load()
	if t == nil {
		return "", false
	}
	if !t.due.Load() {
		return t.value, true
	}
	now := time.Now()
	if now.Before(t.refreshAt) {
		return t.value, true
	}
	if t.usable(now) {
		if !s.busy.Load() && now.UnixNano() >= s.quietUntil.Load() {
			s.startFlight(false) // early refresh; do not wait for it
		}
		return t.value, true
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
	if f := s.startFlight(false); f != nil {
		select {
		case <-f.done:
			if f.err != nil {
				return "", f.err
			}
			return f.tok.value, nil
		default:
		}
	} else if v, ok := s.cached(); ok {
		return v, nil
	}
	return "", ErrWouldBlock
}

// wait joins (or starts) the request in flight and waits for its result or
// for ctx. A caller that gives up does not cancel the request: others may
// be waiting on it, and its token will be cached for the next caller.
func (s *tokenSource) wait(ctx context.Context) (string, error) {
	for {
		f := s.startFlight(true)
		if f == nil { // a usable token is cached (a flight just finished)
			if t := s.cur.Load(); t != nil && t.usable(time.Now()) {
				return t.value, nil
			}
			continue
		}
		select {
		case <-f.done:
			if f.err != nil {
				return "", f.err
			}
			return f.tok.value, nil
		case <-ctx.Done():
			return "", ctxError("token", ctx.Err())
		}
	}
}

// startFlight returns the request in flight, starting one if there is none.
// It returns nil when no request is due: the cached token is fresh, or it is
// still usable while a recent refusal's cooldown lasts. With no usable token
// during a cooldown it returns a finished flight carrying the refusal, so
// callers get the error again without a request.
func (s *tokenSource) startFlight(waiter bool) *flight {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flight != nil {
		if waiter {
			s.flight.waited = true
		}
		return s.flight
	}
	now := time.Now()
	t := s.cur.Load()
	if t != nil && now.Before(t.refreshAt) {
		return nil
	}
	if s.failed != nil && waiter && now.Before(s.failedUntil) && (t == nil || !t.usable(now)) {
		return s.failed
	}
	if s.refused != nil && now.Before(s.refusedUntil) {
		if t != nil && t.usable(now) {
			return nil
		}
		return s.refused
	}
	f := &flight{done: make(chan struct{}), waited: waiter}
	s.flight = f
	s.busy.Store(true)
	if t != nil && t.usable(now) {
		// While the refresh runs, the old token is the answer (cached
		// returns it and starts nothing), until run reports how it ended.
		s.report(t, refreshingState)
	}
	delay := s.lastFetch.Add(minFetchInterval).Sub(now)
	go s.run(f, delay)
	return f
}

func (s *tokenSource) run(f *flight, delay time.Duration) {
	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-s.closed:
			timer.Stop()
		}
	}
	var tok *tokenState
	var err error
	select {
	case <-s.closed:
		err = &Error{Kind: KindArgument, Op: "token", Msg: "client is closed"}
	default:
		s.mu.Lock()
		s.lastFetch = time.Now()
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		// Close cancels the request: its waiters must not hang on a slow
		// endpoint (for up to Timeout, with retries) once the client is closed.
		go func() {
			select {
			case <-s.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		tok, err = s.fetch(ctx)
		cancel()
	}
	s.mu.Lock()
	// Checked under mu, which close holds while it reports the end: once
	// closed, nothing is cached or reported any more.
	closed := false
	select {
	case <-s.closed:
		closed = true
		tok, err = nil, &Error{Kind: KindArgument, Op: "token", Msg: "client is closed"}
	default:
	}
	s.failed = nil
	if err == nil {
		tok.publish()
		s.cur.Swap(tok).retire()
		s.report(tok, cachedState)
		s.refused = nil
	} else if !f.waited {
		s.failed = &flight{done: closedChan, err: err}
		s.failedUntil = time.Now().Add(minFetchInterval)
	}
	if err != nil && !closed {
		if t := s.cur.Load(); t != nil {
			// The refresh failed: the old token is no longer fresh, so a
			// caller asks again (cached decides on another try).
			s.report(t, failedState)
		}
	}
	if err != nil && isRefusal(err) && s.cooldown > 0 {
		s.refused = &flight{done: closedChan, err: err}
		s.refusedUntil = time.Now().Add(s.cooldown)
		s.quietUntil.Store(s.refusedUntil.UnixNano())
	}
	s.flight = nil
	s.busy.Store(false)
	s.mu.Unlock()
	f.tok, f.err = tok, err
	close(f.done)
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

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
	if t := s.cur.Load(); t != nil && t.value == old {
		s.cur.Store(nil)
		t.retire()
		s.report(nil, cachedState)
	}
}

func (s *tokenSource) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
		s.cur.Load().retire()
		s.report(nil, cachedState)
	}
}

// TokenResponse is the decoded answer of a token endpoint.
type TokenResponse struct {
	AccessToken string
	TokenType   string
	// ExpiresIn is the lifetime the server announced; 0 means none was given
	// (or it was 0), and the token is kept until the REST API rejects it.
	ExpiresIn time.Duration
}

// String never shows the token.
func (r TokenResponse) String() string {
	return "TokenResponse{AccessToken:[REDACTED] TokenType:" + strconv.Quote(r.TokenType) + " ExpiresIn:" + r.ExpiresIn.String() + "}"
}

// GoString makes %#v redact too.
func (r TokenResponse) GoString() string { return r.String() }

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

// ParseTokenResponse interprets a token endpoint's answer. A non-2xx status
// gives a KindAuth error carrying the status and the OAuth error fields; so
// does a 2xx answer without access_token or with a token_type other than
// Bearer, with an access token that is not all visible ASCII, or with an
// expires_in that is not a number of seconds from 0 to 1e9. Error
// texts never include the token.
func ParseTokenResponse(status int, body []byte) (TokenResponse, error) {
	return parseTokenResponse(status, body, nil)
}

// parseTokenResponse is ParseTokenResponse with known secrets removed from
// every server-supplied text before it is shortened, so that no part of a
// secret survives a cut.
func parseTokenResponse(status int, body []byte, red redactor) (TokenResponse, error) {
	if status >= 300 && status <= 399 {
		return TokenResponse{}, &Error{Kind: KindAuth, Op: "token", Status: status,
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
		return TokenResponse{}, e
	}
	if werr != nil {
		return TokenResponse{}, &Error{Kind: KindAuth, Op: "token", Msg: "token endpoint sent malformed JSON", Status: status}
	}
	if w.AccessToken == nil || *w.AccessToken == "" {
		return TokenResponse{}, &Error{Kind: KindAuth, Op: "token", Msg: "token response has no access_token", Status: status,
			OAuthError: red.text(w.Error, 200), OAuthDescription: red.text(w.ErrorDescription, 500)}
	}
	if !validAccessToken(*w.AccessToken) {
		// Never cached or handed out; the message does not show it.
		return TokenResponse{}, &Error{Kind: KindAuth, Op: "token", Status: status,
			Msg: "token endpoint returned an unusable access token: it may hold only visible ASCII characters, no spaces or control characters"}
	}
	if w.TokenType != "" && !strings.EqualFold(w.TokenType, "bearer") {
		return TokenResponse{}, &Error{Kind: KindAuth, Op: "token", Status: status,
			// Not strconv.Quote: the text is already cleaned and shortened.
			Msg: `token_type "` + red.text(w.TokenType, 40) + `" is not Bearer`}
	}
	if w.ExpiresIn.bad {
		return TokenResponse{}, &Error{Kind: KindAuth, Op: "token", Status: status,
			Msg: "expires_in is not a finite, non-negative number of seconds (at most 1e9)"}
	}
	return TokenResponse{
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
