package core

import (
	"context"
	"errors"
)

// Transport performs one HTTP exchange. The core talks to the network only
// through this interface, so that the WebAssembly guest can hand requests to
// its host without linking net/http. Native builds use NewHTTPTransport.
//
// Implementations must be safe for concurrent use, must honour ctx, and must
// read at most req.MaxBody bytes of the response body, failing with
// ErrBodyTooLarge beyond that. They must not follow redirects.
type Transport interface {
	RoundTrip(ctx context.Context, req *Request) (*Response, error)
}

// Request is one outgoing HTTP request.
type Request struct {
	Method string
	URL    string
	// Header holds single-valued request headers.
	Header map[string]string
	Body   []byte
	// MaxBody caps the response body the transport may read.
	MaxBody int64
}

// Response is one HTTP response, its body fully read. It belongs to the
// caller once RoundTrip returns: the transport must not modify Body
// afterwards.
type Response struct {
	Status int
	// Header holds the response headers that zbauth reads, canonicalised
	// (Content-Type, Retry-After, Location, ...), first value only.
	Header map[string]string
	Body   []byte
}

// ErrTLS is wrapped by a Transport around TLS failures (an untrusted or
// invalid certificate, a refused client certificate). Retrying cannot help.
var ErrTLS = errors.New("TLS failure")

// ErrRefused is wrapped by a Transport that declines a request without
// attempting it (a host's policy refusing an origin, a host shutting down):
// the answer would be the same on every attempt, so the core does not retry.
var ErrRefused = errors.New("the transport refused the request; retrying cannot help")

// ErrBodyTooLarge is returned (wrapped) by a Transport when a response body
// exceeds Request.MaxBody.
var ErrBodyTooLarge = errors.New("response body exceeds the size limit")
