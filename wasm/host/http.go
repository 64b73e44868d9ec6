package host

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/wasm/internal/wire"
)

// maxHeadLen bounds the head (request line and headers) of one request.
const maxHeadLen = 1 << 20

// instantiateHostModule defines the zbauth_host imports in rt.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	i32 := api.ValueTypeI32
	b := rt.NewHostModuleBuilder("zbauth_host")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, s []uint64) {
			in := instanceOf(ctx)
			if in == nil {
				s[0] = api.EncodeI32(wire.StartInvalid)
				return
			}
			s[0] = api.EncodeI32(in.hostHTTPStart(api.DecodeI32(s[0]), api.DecodeI32(s[1]),
				api.DecodeU32(s[2]), api.DecodeI32(s[3]), api.DecodeU32(s[4]), api.DecodeI32(s[5]),
				api.DecodeI32(s[6]), api.DecodeI32(s[7])))
		}), []api.ValueType{i32, i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("req", "client", "head_ptr", "head_len", "body_ptr", "body_len", "max_body", "timeout_ms").
		Export("http_start")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, s []uint64) {
			if in := instanceOf(ctx); in != nil {
				in.hostHTTPAbort(api.DecodeI32(s[0]))
			}
		}), []api.ValueType{i32}, nil).
		WithParameterNames("req").
		Export("http_abort")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, s []uint64) {
			if in := instanceOf(ctx); in != nil {
				in.hostCallDone(api.DecodeI32(s[0]), api.DecodeI32(s[1]), api.DecodeU32(s[2]), api.DecodeI32(s[3]))
			}
		}), []api.ValueType{i32, i32, i32, i32}, nil).
		WithParameterNames("call", "status", "ptr", "len").
		Export("call_done")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, s []uint64) {
			if in := instanceOf(ctx); in != nil {
				in.hostTokenReport(api.DecodeI32(s[0]), api.DecodeU32(s[1]), api.DecodeI32(s[2]),
					time.Duration(api.DecodeI32(s[3]))*time.Millisecond, time.Duration(api.DecodeI32(s[4]))*time.Millisecond)
			}
		}), []api.ValueType{i32, i32, i32, i32, i32}, nil).
		WithParameterNames("client", "ptr", "len", "fresh_ms", "usable_ms").
		Export("token_report")
	_, err := b.Instantiate(ctx)
	return err
}

// instanceOf finds the instance a host function was called for; nil when
// the call did not come through this package (or before bind).
func instanceOf(ctx context.Context) *instance {
	in, _ := ctx.Value(instKey{}).(*instance)
	if in == nil || in.mem == nil {
		return nil
	}
	return in
}

// parseRequestHead decodes http_start's head: "METHOD URL\n" then
// "Name: value\n" lines.
func parseRequestHead(b []byte) (method, url string, header map[string]string, ok bool) {
	line, rest, _ := bytes.Cut(b, []byte{'\n'})
	m, u, found := bytes.Cut(line, []byte{' '})
	if !found || len(m) == 0 || len(u) == 0 {
		return "", "", nil, false
	}
	header, ok = parseHeaderLines(rest)
	return string(m), string(u), header, ok
}

// parseHeaderLines decodes "Name: value\n" lines; the first value of a
// name wins.
func parseHeaderLines(b []byte) (map[string]string, bool) {
	h := make(map[string]string, 8)
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if len(line) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(k) == 0 || bytes.ContainsAny(k, " \t\r") || bytes.ContainsRune(v, '\r') {
			return nil, false
		}
		if _, dup := h[string(k)]; !dup {
			h[string(k)] = string(bytes.TrimSpace(v))
		}
	}
	return h, true
}

// httpCall is one request the host performs for the guest.
type httpCall struct {
	id     int32
	client *Client
	req    *core.Request
	ctx    context.Context
	cancel context.CancelFunc
}

// hostHTTPStart is http_start(req, client, head_ptr, head_len, body_ptr,
// body_len, max_body, timeout_ms): check the request and accept it; it is
// performed after the current export returns. head and body are copied
// here.
func (in *instance) hostHTTPStart(req, client int32, headPtr uint32, headLen int32, bodyPtr uint32, bodyLen int32, maxBody, timeoutMS int32) int32 {
	p := in.p
	refuse := func(code int32, fault bool) int32 {
		p.stats.Refused++
		if fault {
			p.stats.GuestFaults++
		}
		return code
	}
	if p.closed || in.dead != nil {
		return refuse(wire.StartDisabled, false)
	}
	if headLen <= 0 || headLen > maxHeadLen || bodyLen < -1 || int64(bodyLen) > p.opts.maxRequestBody {
		return refuse(wire.StartInvalid, true)
	}
	hb, ok := in.read(headPtr, headLen)
	if !ok {
		return refuse(wire.StartInvalid, true)
	}
	var body []byte
	if bodyLen >= 0 {
		b, ok := in.read(bodyPtr, bodyLen)
		if !ok {
			return refuse(wire.StartInvalid, true)
		}
		body = append(make([]byte, 0, len(b)), b...)
	}
	method, target, header, ok := parseRequestHead(hb)
	if !ok {
		return refuse(wire.StartInvalid, true)
	}
	c := in.clients[client]
	if c == nil || !c.allows(target) {
		return refuse(wire.StartRefused, false)
	}
	if a, ok := header["Authorization"]; ok {
		// A bearer token, or Basic credentials (the BASIC strategy's, or
		// client_secret_basic's), without the scheme.
		if _, cred, ok := strings.Cut(a, " "); ok {
			a = cred
		}
		c.scrub.NoteToken(a)
	}
	if _, dup := in.reqs[req]; dup || req <= 0 {
		return refuse(wire.StartInvalid, true)
	}
	if len(in.reqs) >= p.opts.maxInFlight {
		return refuse(wire.StartBusy, false)
	}
	timeout := p.opts.httpTimeout
	if timeoutMS > 0 {
		timeout = time.Duration(timeoutMS) * time.Millisecond
	}
	limit := int64(maxBody)
	if limit <= 0 || limit > p.opts.maxResponseBody {
		limit = p.opts.maxResponseBody
	}
	ctx, cancel := context.WithTimeout(p.hostCtx, timeout)
	h := &httpCall{id: req, client: c, ctx: ctx, cancel: cancel, req: &core.Request{
		Method: method, URL: target, Header: header, Body: body, MaxBody: limit,
	}}
	in.reqs[req] = h
	in.started = append(in.started, h)
	p.stats.HTTPRequests++
	return wire.StartOK
}

// runHTTP performs h with the client's net/http transport (the core's,
// with the configured TLS settings; it never follows redirects) and
// delivers the outcome. It holds p.mu only for the delivery.
func (p *Plugin) runHTTP(in *instance, h *httpCall) {
	defer h.cancel()
	resp, err := h.client.tr.RoundTrip(h.ctx, h.req)
	p.mu.Lock()
	defer p.mu.Unlock()
	if in.dead != nil || in.reqs[h.id] != h {
		return // aborted by the guest, or the instance is gone
	}
	delete(in.reqs, h.id)
	id := api.EncodeI32(h.id)
	if err != nil {
		code := int32(wire.FailTransport)
		switch {
		case errors.Is(err, core.ErrBodyTooLarge):
			code = wire.FailTooLarge
		case errors.Is(err, core.ErrTLS):
			code = wire.FailTLS
		case h.ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			code = wire.FailTimeout
		}
		msg := []byte(err.Error())
		in.withArgs([][]byte{msg}, func(ptrs []uint32) error {
			return in.drive(in.f.httpFail, id, api.EncodeI32(code), api.EncodeU32(ptrs[0]), api.EncodeI32(int32(len(msg))))
		})
		return
	}
	h.client.learn(h, resp)
	head := wire.AppendHeaderLines(nil, resp.Header)
	in.withArgs([][]byte{head, resp.Body}, func(ptrs []uint32) error {
		return in.drive(in.f.httpDone, id, api.EncodeI32(int32(resp.Status)),
			api.EncodeU32(ptrs[0]), api.EncodeI32(int32(len(head))),
			api.EncodeU32(ptrs[1]), api.EncodeI32(int32(len(resp.Body))))
	})
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// originOf returns scheme://host:port of an absolute http(s) URL, with the
// default port made explicit, or false.
func originOf(raw string) (string, bool) { return wire.Origin(raw) }

// parseResponsePayload decodes a zb_request result: "STATUS\n", header
// lines, an empty line, the body (copied).
func parseResponsePayload(b []byte) (*core.Response, bool) {
	line, rest, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return nil, false
	}
	status, err := strconv.Atoi(string(line))
	if err != nil {
		return nil, false
	}
	var head []byte
	if len(rest) > 0 && rest[0] == '\n' { // no headers
		head, rest = nil, rest[1:]
	} else if head, rest, ok = bytes.Cut(rest, []byte("\n\n")); !ok {
		return nil, false
	}
	h, ok := parseHeaderLines(head)
	if !ok {
		return nil, false
	}
	return &core.Response{Status: status, Header: h, Body: bytes.Clone(rest)}, true
}
