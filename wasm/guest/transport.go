//go:build wasip1

package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/urlx"
	"github.com/zbauth/zbauth/wasm/internal/wire"
)

// hostTransport is the guest's core.Transport. It performs no I/O: it
// records the request with the host (http_start) and parks the calling
// goroutine until the host delivers the answer (zb_http_done/zb_http_fail)
// or the context ends (then it tells the host with http_abort).
type hostTransport struct{ client int32 }

// pendingHTTP is one request the host is performing.
type pendingHTTP struct {
	done    chan httpReply // buffered: delivery never blocks the export
	waiting bool           // counted in hostWaits
}

// stopWaiting takes p's goroutine out of hostWaits. Whoever removes p
// from state.reqs calls it.
func (p *pendingHTTP) stopWaiting() {
	if p.waiting {
		p.waiting = false
		hostWaits--
	}
}

type httpReply struct {
	resp *core.Response
	err  error
}

func (t hostTransport) RoundTrip(ctx context.Context, r *core.Request) (*core.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, contextError(r, err)
	}
	head, err := requestHead(r)
	if err != nil {
		return nil, err
	}
	if a, ok := r.Header["Authorization"]; ok {
		// A bearer token or Basic credentials, without the scheme.
		if _, cred, ok := strings.Cut(a, " "); ok {
			a = cred
		}
		noteToken(t.client, a)
	}
	var timeoutMS int32
	if dl, ok := ctx.Deadline(); ok {
		timeoutMS = int32(min(max(time.Until(dl).Milliseconds(), 1), math.MaxInt32))
	}
	maxBody := int32(min(max(r.MaxBody, 0), math.MaxInt32))
	p := &pendingHTTP{done: make(chan httpReply, 1)}
	state.mu.Lock()
	state.nextReq++
	if state.nextReq <= 0 {
		state.nextReq = 1
	}
	id := state.nextReq
	state.reqs[id] = p
	state.mu.Unlock()
	bodyLen := int32(-1)
	if r.Body != nil {
		bodyLen = int32(len(r.Body))
	}
	rc := hostHTTPStart(id, t.client, ptrOf(head), int32(len(head)), ptrOf(r.Body), bodyLen, maxBody, timeoutMS)
	runtime.KeepAlive(head)
	runtime.KeepAlive(r.Body)
	progress++
	if rc != wire.StartOK {
		forget(id)
		return nil, startError(rc)
	}
	p.waiting = true
	hostWaits++
	select {
	case rep := <-p.done:
		return rep.resp, rep.err
	case <-ctx.Done():
		if forget(id) {
			hostHTTPAbort(id)
			p.stopWaiting()
		}
		progress++
		return nil, contextError(r, ctx.Err())
	}
}

// contextError is the error the native transport returns when the
// context ends first: net/http's *url.Error naming the method and, as the
// core's transport rewrites it, only the scheme and host of the URL. The
// guest's deadline and the host's request timeout race; whichever wins,
// the error text is the native one, byte for byte.
func contextError(r *core.Request, err error) error {
	op := r.Method // net/http's urlErrorOp: "POST" -> "Post"
	if op == "" {
		op = "Get"
	} else if lower := strings.ToLower(op); len(lower) == len(op) {
		op = op[:1] + lower[1:]
	}
	return urlx.URLError(op, r.URL, err)
}

// requestHead encodes the request line and headers for http_start:
// "METHOD URL\n" then "Name: value\n" per header (wasm/ABI.md). A line
// break inside a field would smuggle a header: refused.
func requestHead(r *core.Request) ([]byte, error) {
	n := len(r.Method) + len(r.URL) + 2
	for k, v := range r.Header {
		n += len(k) + len(v) + 3
	}
	b := make([]byte, 0, n)
	b = append(append(append(append(b, r.Method...), ' '), r.URL...), '\n')
	b = wire.AppendHeaderLines(b, r.Header) // refused below when it left any out
	if hasByte(r.Method, " \r\n") || hasByte(r.URL, " \r\n") {
		return nil, &hostError{msg: "the request line contains white space or a line break"}
	}
	for k, v := range r.Header {
		if hasByte(k, ": \r\n") || hasByte(v, "\r\n") {
			return nil, &hostError{msg: "a request header contains a line break"}
		}
	}
	return b, nil
}

// hasByte reports whether s contains any byte of set (ASCII). A plain
// loop: strings.ContainsAny builds a lookup table on every call, on the
// path of every request.
func hasByte(s, set string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(set); j++ {
			if s[i] == set[j] {
				return true
			}
		}
	}
	return false
}

// parseHeaderLines decodes "Name: value\n" lines. Names are put in
// canonical form (content-type → Content-Type), as net/http does, so a
// host may pass them in any case.
func parseHeaderLines(b []byte) (map[string]string, bool) {
	h := make(map[string]string, 8)
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(k) == 0 {
			return nil, false
		}
		key := canonicalHeader(k)
		if _, dup := h[key]; !dup { // first value wins, as in the native transport
			h[key] = string(bytes.TrimSpace(v))
		}
	}
	return h, true
}

// forget drops a pending request and reports whether it was still there.
func forget(id int32) bool {
	state.mu.Lock()
	defer state.mu.Unlock()
	_, ok := state.reqs[id]
	delete(state.reqs, id)
	return ok
}

// hostError is a failure the host reported. Timeout() makes the core
// classify it as TIMEOUT; Unwrap exposes core.ErrBodyTooLarge or
// core.ErrRefused.
type hostError struct {
	msg     string
	timeout bool
	wrapped error
}

func (e *hostError) Error() string { return e.msg }
func (e *hostError) Timeout() bool { return e.timeout }
func (e *hostError) Unwrap() error { return e.wrapped }

// startError is http_start's refusal. Codes 1 (refused), 2 (invalid) and 4
// (shutting down) wrap core.ErrRefused: the host would answer the same on
// every attempt, so the core ends the operation at once with this reason.
// Busy (3) is a passing state and stays retryable.
func startError(rc int32) error {
	switch rc {
	case wire.StartRefused:
		return &hostError{msg: "the host refused the request: its origin is not the configured token URL's, discovery document's (or the token endpoint it names) or REST address's", wrapped: core.ErrRefused}
	case wire.StartInvalid:
		return &hostError{msg: "the host could not read the request", wrapped: core.ErrRefused}
	case wire.StartBusy:
		return &hostError{msg: "the host has too many requests in flight"}
	case wire.StartDisabled:
		return &hostError{msg: "the host is shutting down", wrapped: core.ErrRefused}
	}
	return &hostError{msg: fmt.Sprintf("the host refused the request (code %d)", rc), wrapped: core.ErrRefused}
}

func deliver(req int32, rep httpReply) int32 {
	state.mu.Lock()
	p := state.reqs[req]
	delete(state.reqs, req)
	state.mu.Unlock()
	if p == nil {
		return wake() // aborted or unknown: ignore
	}
	p.stopWaiting()
	p.done <- rep
	progress++
	quiesce()
	return wake()
}

// zb_http_done(req, status, head_ptr, head_len, body_ptr, body_len): the
// host's answer to request req. head holds the response headers as
// "Name: value\n" lines (canonical names, first value); body is the whole
// body (already limited by the host). Both are copied before the export
// returns.
//
//go:wasmexport zb_http_done
func zbHTTPDone(req, status int32, headPtr uint32, headLen int32, bodyPtr uint32, bodyLen int32) int32 {
	defer recoverExport(0, "http")
	head, ok1 := borrow(headPtr, headLen)
	body, ok2 := borrow(bodyPtr, bodyLen)
	if !ok1 || !ok2 {
		return deliver(req, httpReply{err: &hostError{msg: "the host passed an invalid response buffer"}})
	}
	h, ok := parseHeaderLines(head)
	if !ok {
		return deliver(req, httpReply{err: &hostError{msg: "the host passed malformed response headers"}})
	}
	resp := &core.Response{Status: int(status), Header: h, Body: append(make([]byte, 0, len(body)), body...)}
	return deliver(req, httpReply{resp: resp})
}

// zb_http_fail(req, code, msg_ptr, msg_len): request req failed in the
// host: code 1 transport, 2 timeout, 3 body too large. msg is the reason
// (UTF-8; the core removes secrets before it reaches any error text).
//
//go:wasmexport zb_http_fail
func zbHTTPFail(req, code int32, msgPtr uint32, msgLen int32) int32 {
	defer recoverExport(0, "http")
	msg := "the host's request failed"
	if b, ok := borrow(msgPtr, msgLen); ok && len(b) > 0 {
		msg = string(b)
	}
	e := &hostError{msg: msg}
	switch code {
	case wire.FailTimeout:
		e.timeout = true
	case wire.FailTooLarge:
		e.wrapped = core.ErrBodyTooLarge
	case wire.FailTLS:
		e.wrapped = core.ErrTLS
	}
	return deliver(req, httpReply{err: e})
}

// canonicalHeader is textproto.CanonicalMIMEHeaderKey for ASCII names
// (without linking net/textproto).
func canonicalHeader(k []byte) string {
	b := make([]byte, len(k))
	upper := true
	for i, c := range k {
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return string(b)
}
