//go:build !wasip1

package core

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// HTTPTransport is the native Transport: one keep-alive net/http client.
type HTTPTransport struct {
	client *http.Client
}

// NewHTTPTransport returns a Transport with its own connection pool.
// Redirects are never followed: a 3xx is returned to the caller as is.
func NewHTTPTransport() *HTTPTransport {
	rt := http.DefaultTransport.(*http.Transport).Clone()
	rt.MaxIdleConnsPerHost = 64
	rt.IdleConnTimeout = 90 * time.Second
	return &HTTPTransport{client: &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// RoundTrip implements Transport.
func (t *HTTPTransport) RoundTrip(ctx context.Context, r *Request) (*Response, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := readLimited(resp.Body, r.MaxBody, resp.ContentLength)
	if err != nil {
		return nil, err
	}
	h := make(map[string]string, len(resp.Header))
	for k, vs := range resp.Header {
		if len(vs) > 0 {
			h[k] = vs[0]
		}
	}
	return &Response{Status: resp.StatusCode, Header: h, Body: data}, nil
}

// readLimited reads all of r, but never more than max+1 bytes of memory.
func readLimited(r io.Reader, max, contentLength int64) ([]byte, error) {
	if max <= 0 {
		max = 16 << 20
	}
	if contentLength > max {
		return nil, fmt.Errorf("%w (%d > %d bytes)", ErrBodyTooLarge, contentLength, max)
	}
	var buf bytes.Buffer
	if contentLength > 0 {
		buf.Grow(int(contentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, fmt.Errorf("%w (> %d bytes)", ErrBodyTooLarge, max)
	}
	return buf.Bytes(), nil
}

// CloseIdleConnections releases pooled connections.
func (t *HTTPTransport) CloseIdleConnections() { t.client.CloseIdleConnections() }

func defaultTransport() Transport { return NewHTTPTransport() }
