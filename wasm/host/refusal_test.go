package host

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// TestRefusalEndsTheCall: an http_start refusal (1, refused; 2, invalid)
// ends the token call at once with TRANSPORT and the host's reason, after
// one http_start: the core does not retry what the host would refuse
// again, so a caller does not wait out its deadline for a TIMEOUT.
func TestRefusalEndsTheCall(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	for _, tt := range []struct {
		name   string
		opts   []Option
		refuse func(p *Plugin, c *Client)
		reason string
	}{
		{name: "origin refused", reason: "the host refused the request", refuse: func(p *Plugin, c *Client) {
			// The host's policy no longer allows the token URL's origin.
			p.mu.Lock()
			c.origins = nil
			p.mu.Unlock()
		}},
		{name: "invalid (request body over the host's limit)", opts: []Option{WithMaxRequestBody(8)},
			reason: "the host could not read the request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, prodModule, tt.opts...)
			c := newClient(t, p, configFor(cl, `"timeout_ms":3000`))
			if tt.refuse != nil {
				tt.refuse(p, c)
			}
			before := cl.Stats().TokenRequests
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			_, err := c.Token(ctx)
			d := time.Since(start)
			e := asCoreError(t, err)
			if e.Kind != core.KindTransport || !strings.Contains(e.Error(), tt.reason) {
				t.Fatalf("want TRANSPORT with %q, got %v", tt.reason, err)
			}
			if d > 500*time.Millisecond {
				t.Errorf("the refusal was reported after %v", d)
			}
			if st := p.Stats(); st.Refused != 1 || st.HTTPRequests != 0 {
				t.Errorf("stats %+v: want exactly one (refused) http_start", st)
			}
			if n := cl.Stats().TokenRequests - before; n != 0 {
				t.Errorf("%d token requests reached the cluster", n)
			}
		})
	}
}
