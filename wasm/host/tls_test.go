package host

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

// TestTLSFilesOnEveryOrigin: the host reads ca_certificate_path and
// applies it to the token endpoint and the REST API alike (an HTTPS front
// for the dev cluster with httptest's own CA). Without it, the first
// origin reached fails with TRANSPORT; with a file the host cannot read,
// NewClient fails with CONFIG naming the field.
func TestTLSFilesOnEveryOrigin(t *testing.T) {
	cl := cluster(t, devcluster.Options{})
	target, _ := url.Parse(cl.URL())
	front := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	front.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	front.StartTLS()
	t.Cleanup(front.Close)
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	p := load(t, prodModule)
	o := cl.Options()
	cfg := func(extra string) []byte {
		s := `{"client_id":"` + o.ClientID + `","client_secret":"` + o.ClientSecret + `","authorization_server_url":"` +
			front.URL + `/oauth/token","rest_address":"` + front.URL + `"` + extra + `}`
		return []byte(s)
	}
	ctx := context.Background()

	untrusted := newClient(t, p, cfg(""))
	before, t0 := p.Stats().HTTPRequests, time.Now()
	if _, err := untrusted.Topology(ctx); err == nil || asCoreError(t, err).Kind != core.KindTransport {
		t.Fatalf("without the CA: %v, want a TRANSPORT error", err)
	}
	// A TLS failure is final (zb_http_fail code 4): one request, no back-off.
	if n, d := p.Stats().HTTPRequests-before, time.Since(t0); n != 1 || d > 900*time.Millisecond {
		t.Fatalf("the TLS failure took %d requests and %v, want 1 at once", n, d)
	}
	tokens := cl.Stats().TokenRequests

	c := newClient(t, p, cfg(`,"ca_certificate_path":"`+caPath+`"`))
	topo, err := c.Topology(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Brokers) != 3 || cl.Stats().TokenRequests != tokens+1 {
		t.Fatalf("topology %+v, token requests %d → %d: want 3 brokers through one token request over TLS", topo, tokens, cl.Stats().TokenRequests)
	}

	_, err = p.NewClient(ctx, cfg(`,"ca_certificate_path":"`+caPath+`.missing"`))
	if e := asCoreError(t, err); e.Kind != core.KindConfig || len(e.Fields) != 1 || e.Fields[0] != "ca_certificate_path" {
		t.Fatalf("a missing CA file: %v (fields %v), want CONFIG on ca_certificate_path", err, e.Fields)
	}
}
