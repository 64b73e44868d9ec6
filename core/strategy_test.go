package core_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

func TestClientSecretBasicKeepsTheSecretOutOfTheBody(t *testing.T) {
	cl := startCluster(t, devcluster.Options{TokenAuthMethod: core.MethodClientSecretBasic, ClientSecret: "s3cret with: colon&plus+"})
	cfg := clusterConfig(cl)
	cfg.TokenAuthMethod = core.MethodClientSecretBasic
	c := newClient(t, cfg)
	if _, err := c.Topology(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := cl.Stats()
	if st.LastClientAuth != core.MethodClientSecretBasic {
		t.Errorf("client auth %q", st.LastClientAuth)
	}
	if _, ok := st.LastTokenForm["client_secret"]; ok {
		t.Errorf("the secret is in the body too: %v", st.LastTokenForm)
	}
}

func TestPrivateKeyJWTSignsEachRequestAnew(t *testing.T) {
	cl := startCluster(t, devcluster.Options{TokenAuthMethod: core.MethodPrivateKeyJWT, TokenLifetime: 4 * time.Second})
	cfg := clusterConfig(cl)
	cfg.ClientSecret = ""
	cfg.ClientAssertionKeyPath, cfg.ClientAssertionCertPath = cl.AssertionKeyPath(), cl.AssertionCertPath()
	c := newClient(t, cfg)
	if _, err := c.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := cl.Stats().LastAssertionClaims
	if first["aud"] != cl.TokenURL() || first["iss"] != cfg.ClientID {
		t.Fatalf("claims %v", first)
	}
	if h := cl.Stats().LastAssertionHeader; h["alg"] != "RS256" || h["x5t#S256"] == nil {
		t.Errorf("header %v", h)
	}
	// The 4 s token is refreshed in its last quarter: the dev cluster
	// refuses a replayed jti, so this succeeds only with a new assertion.
	deadline := time.Now().Add(6 * time.Second)
	for cl.Stats().TokensIssued < 2 && time.Now().Before(deadline) {
		if _, err := c.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := cl.Stats()
	if st.TokensIssued < 2 || st.LastAssertionClaims["jti"] == first["jti"] {
		t.Fatalf("tokens issued %d, jti %v then %v", st.TokensIssued, first["jti"], st.LastAssertionClaims["jti"])
	}
}

// An IdP that hands out a cached token: exp 3 s ahead, expires_in an hour.
// The token is renewed before exp, and the REST API never sees it expired.
func TestJWTExpBeforeExpiresIn(t *testing.T) {
	cl := startCluster(t, devcluster.Options{JWTExp: 3 * time.Second})
	c := newClient(t, clusterConfig(cl))
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		if _, err := c.Topology(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := cl.Stats()
	if st.APIRejected != 0 || st.TokensIssued < 2 {
		t.Fatalf("rejected %d, tokens %d: the token was used past its exp", st.APIRejected, st.TokensIssued)
	}
}

func TestDiscoveryOncePerClient(t *testing.T) {
	cl := startCluster(t, devcluster.Options{TokenAuthMethod: core.MethodClientSecretBasic})
	cfg := clusterConfig(cl)
	cfg.AuthorizationServerURL, cfg.IssuerURL = "", cl.URL()
	c := newClient(t, cfg)
	for i := 0; i < 3; i++ {
		if _, err := c.Topology(t.Context()); err != nil {
			t.Fatal(err)
		}
		cl.RevokeAll() // the next call gets a 401 and a new token
	}
	st := cl.Stats()
	if st.DiscoveryRequests != 1 || st.TokensIssued != 3 || st.LastClientAuth != core.MethodClientSecretBasic {
		t.Fatalf("discovery %d, tokens %d, method %q", st.DiscoveryRequests, st.TokensIssued, st.LastClientAuth)
	}
}

func TestTopologyFallsBackToV2ForGood(t *testing.T) {
	cl := startCluster(t, devcluster.Options{})
	if err := postJSON(cl.URL()+"/_dev/config", `{"v1_topology": false}`); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, clusterConfig(cl))
	for i := 0; i < 3; i++ {
		top, err := c.Topology(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if top.ClusterID == "" || top.LastCompletedChangeID == "" {
			t.Fatalf("v2 fields missing: %+v", top)
		}
	}
	if n := cl.Stats().APIRequests; n != 4 { // one 404, then v2 three times
		t.Fatalf("%d API requests, want 4", n)
	}
	b, _ := c.TopologyJSON(t.Context())
	if !strings.Contains(string(b), `"clusterId":`) {
		t.Errorf("TopologyJSON drops clusterId: %s", b)
	}
}

func TestBasicStrategy(t *testing.T) {
	cl := startCluster(t, devcluster.Options{Auth: "basic"})
	o := cl.Options()
	cfg := core.Config{AuthStrategy: "basic", BasicAuthUsername: o.BasicUsername, BasicAuthPassword: o.BasicPassword, RESTAddress: cl.URL()}
	c := newClient(t, cfg)
	if _, err := c.Topology(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := cl.Stats(); st.LastAPIAuthScheme != "Basic" || st.TokenRequests != 0 {
		t.Fatalf("stats %+v", st)
	}
	_, err := c.Token(t.Context())
	if core.KindOf(err) != core.KindConfig || !strings.Contains(err.Error(), "BASIC") {
		t.Fatalf("Token under BASIC: %v", err)
	}
	if _, err := c.TryToken(); core.KindOf(err) != core.KindConfig {
		t.Fatalf("TryToken under BASIC: %v", err)
	}
	cfg.BasicAuthPassword = "SECRET-MARKER-basic"
	_, err = newClient(t, cfg).Topology(t.Context())
	if core.KindOf(err) != core.KindAuth || strings.Contains(err.Error(), "MARKER") {
		t.Fatalf("wrong password: %v", err)
	}
}

// postJSON calls one of the dev cluster's control endpoints.
func postJSON(url, body string) error {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}
