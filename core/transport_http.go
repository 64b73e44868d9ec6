//go:build !wasip1

package core

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/zbauth/zbauth/internal/urlx"
)

// HTTPTransport is the native Transport: one keep-alive net/http client.
type HTTPTransport struct {
	client *http.Client
}

// NewHTTPTransport returns a Transport with its own keep-alive connection
// pool, configured from cfg's TLS settings (CACertificatePath,
// ClientCertificatePath, ClientKeyPath). Proxies come from HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY. Redirects are never followed: a 3xx is returned
// to the caller as is, and the core decides.
func NewHTTPTransport(cfg Config) (*HTTPTransport, error) {
	rt := http.DefaultTransport.(*http.Transport).Clone()
	rt.Proxy = func(r *http.Request) (*url.URL, error) {
		// net/http skips the proxy for "localhost" and loopback addresses,
		// but not for "LOCALHOST": plain http to it would reach the proxy.
		if urlx.IsLoopbackHost(r.URL.Hostname()) {
			return nil, nil
		}
		return http.ProxyFromEnvironment(r)
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	rt.DialContext = dialLocalhost(d.DialContext)
	rt.MaxIdleConnsPerHost = 64
	rt.IdleConnTimeout = 90 * time.Second
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACertificatePath != "" {
		pem, err := os.ReadFile(cfg.CACertificatePath)
		if err != nil {
			return nil, &Error{Kind: KindConfig, Op: "config", Msg: "cannot read ca_certificate_path", Fields: []string{"ca_certificate_path"}, Err: withoutPath(err)}
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &Error{Kind: KindConfig, Op: "config", Msg: "ca_certificate_path holds no PEM certificate", Fields: []string{"ca_certificate_path"}}
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCertificatePath != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertificatePath, cfg.ClientKeyPath)
		if err != nil {
			// The error text of LoadX509KeyPair never includes key material.
			return nil, &Error{Kind: KindConfig, Op: "config", Msg: "cannot load the client certificate and key",
				Fields: []string{"client_certificate_path", "client_key_path"}, Err: withoutPath(err)}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	rt.TLSClientConfig = tc
	return &HTTPTransport{client: &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}, nil
}

// dialLocalhost wraps dial so that "localhost" (in any case) is dialed on
// 127.0.0.1, then ::1, without a resolver: plain http to it is allowed as
// loopback (urlx.IsLoopbackHost), and a hosts file or DNS could answer for it
// with any address.
func dialLocalhost(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || !strings.EqualFold(host, "localhost") {
			return dial(ctx, network, addr)
		}
		var first error
		for _, ip := range []string{"127.0.0.1", "::1"} {
			conn, err := dial(ctx, network, net.JoinHostPort(ip, port))
			if err == nil {
				return conn, nil
			}
			if first == nil {
				first = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		return nil, first
	}
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
		err = withoutURLPath(err)
		if isTLSError(err) {
			return nil, fmt.Errorf("%w: %w", ErrTLS, err)
		}
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

// withoutPath drops the file name from an *os.PathError: the user knows
// which file they configured, and a path can hold anything.
func withoutPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return errors.New(pe.Op + ": " + pe.Err.Error())
	}
	return err
}

// withoutURLPath rewrites net/http's *url.Error as urlx.URLError does.
func withoutURLPath(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return urlx.URLError(ue.Op, ue.URL, ue.Err)
}

func isTLSError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		hostname x509.HostnameError
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &hostname) ||
		errors.As(err, &unknown) || errors.As(err, &invalid) ||
		strings.Contains(err.Error(), "remote error: tls:")
}

// readLimited reads all of r, but never more than max+1 bytes, max being
// at most MaxBodyLimit. A declared length above max is refused before
// reading; any other is not trusted: a server can declare 512 GiB and send
// nothing, so the buffer grows only as bytes arrive, from a first
// allocation of at most firstRead.
func readLimited(r io.Reader, max, contentLength int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	max = min(max, MaxBodyLimit) // and max+1 cannot overflow
	if contentLength > max {
		return nil, fmt.Errorf("%w (%d > %d bytes)", ErrBodyTooLarge, contentLength, max)
	}
	var buf bytes.Buffer
	if contentLength > 0 {
		// MinRead more: ReadFrom wants that much room to see the EOF.
		buf.Grow(int(min(contentLength, firstRead)) + bytes.MinRead)
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

// firstRead bounds the buffer allocated for a body before it arrives.
const firstRead = 64 << 10

// CloseIdleConnections releases pooled connections.
func (t *HTTPTransport) CloseIdleConnections() { t.client.CloseIdleConnections() }

func defaultTransport(cfg Config) (Transport, error) { return NewHTTPTransport(cfg) }
