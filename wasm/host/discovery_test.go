package host

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/zbauth/zbauth/internal/devcluster"
)

// TestDiscoveryOrigins: with issuer_url the guest learns the token
// endpoint at run time. The host lets it reach the discovery document's
// origin, and the token endpoint's once the document has been read by
// the guest's own request for it: that origin only, not the others the
// document names, and not one named by some other document.
func TestDiscoveryOrigins(t *testing.T) {
	cl := cluster(t, devcluster.Options{Addr: "127.0.0.1:0"}) // the token endpoint, on an origin nothing else names
	elsewhere := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("elsewhere")) }).URL
	decoy := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("decoy")) }).URL
	var discoveries atomic.Int32
	idp := serve(t, func(w http.ResponseWriter, r *http.Request) {
		doc := map[string]any{"issuer": "http://" + r.Host, "token_endpoint": cl.TokenURL(),
			"jwks_uri": elsewhere + "/jwks", "authorization_endpoint": elsewhere + "/authorize"}
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			discoveries.Add(1)
		case "/other":
			doc["token_endpoint"] = decoy + "/token" // a document at another URL
		default:
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(doc)
	}).URL
	api := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"brokers":[],"clusterSize":1,"partitionsCount":1,"replicationFactor":1,"gatewayVersion":"8.8.0"}`))
	}).URL

	p := load(t, testModule)
	o := cl.Options()
	cfg, _ := json.Marshal(map[string]any{"client_id": o.ClientID, "client_secret": o.ClientSecret, "audience": o.Audience,
		"issuer_url": idp, "rest_address": api})
	c := newClient(t, p, cfg)

	// Before discovery, the token endpoint is not reachable; the other
	// document's token endpoint never is.
	if _, err := rawGet(c, cl.URL()+"/_dev/stats"); err == nil {
		t.Fatal("the token endpoint's origin was reachable before the discovery document was read")
	}
	if _, err := rawGet(c, idp+"/other"); err != nil {
		t.Fatalf("the discovery document's origin: %v", err)
	}
	if _, err := rawGet(c, decoy+"/token"); err == nil {
		t.Fatal("a document at another URL made its token endpoint reachable")
	}

	topo, err := c.Topology(context.Background())
	if err != nil {
		t.Fatalf("topology by discovery: %v", err)
	}
	if topo.GatewayVersion != "8.8.0" || discoveries.Load() != 1 || cl.Stats().TokenRequests != 1 {
		t.Fatalf("topology %+v after %d discovery and %d token requests", topo, discoveries.Load(), cl.Stats().TokenRequests)
	}
	if _, err := rawGet(c, cl.URL()+"/_dev/stats"); err != nil {
		t.Errorf("the token endpoint's origin after discovery: %v", err)
	}
	for _, u := range []string{elsewhere + "/jwks", decoy + "/token"} {
		if _, err := rawGet(c, u); err == nil {
			t.Errorf("%s was reachable: only the token endpoint's origin is learned", u)
		}
	}

	// Learned for that client only.
	other := newClient(t, p, cfg)
	if _, err := rawGet(other, cl.URL()+"/_dev/stats"); err == nil {
		t.Error("another client reached the token endpoint before its own discovery")
	}
}
