// Package urlx holds the URL rules that core and the Wasm guest share:
// which hosts count as loopback (and may be reached over plain http), and
// how a failed request's URL is reported without its path or query.
package urlx

import (
	"net/netip"
	"net/url"
	"strings"
)

// IsLoopbackHost reports whether host (without port) is a loopback IP
// address (127.0.0.0/8, ::1) or exactly "localhost" (in any case), which
// the native transport dials on loopback without asking a resolver.
// "localhost." and "*.localhost" are not: a resolver (DNS) would answer
// for them, and whoever answers would get the credentials over plain http.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// URLError is the *url.Error of a failed request as zbauth reports it:
// net/http's, with the URL cut to its scheme and host, since a path or
// query may carry credentials in any encoding, which no redactor can
// enumerate. core's native transport rewrites net/http's errors with it,
// and the Wasm guest builds the same text.
func URLError(op, rawURL string, err error) *url.Error {
	where := "request"
	if u, perr := url.Parse(rawURL); perr == nil {
		where = u.Scheme + "://" + u.Host
	}
	return &url.Error{Op: op, URL: where, Err: err}
}
