package devcluster_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zbauth/zbauth/internal/devcluster"
)

func start(t *testing.T, opts devcluster.Options) *devcluster.Cluster {
	t.Helper()
	cl, err := devcluster.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// answer is one HTTP exchange, body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", a.status, err, a.body)
	}
	return m
}

var client = &http.Client{Timeout: 10 * time.Second}

func do(t *testing.T, method, u, ctype, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// form is the client-credentials form the cluster accepts.
func form(cl *devcluster.Cluster, change ...string) string {
	o := cl.Options()
	v := url.Values{"grant_type": {"client_credentials"}, "client_id": {o.ClientID},
		"client_secret": {o.ClientSecret}, "audience": {o.Audience}}
	for i := 0; i+1 < len(change); i += 2 {
		v.Set(change[i], change[i+1])
	}
	return v.Encode()
}

const formType = "application/x-www-form-urlencoded"

func requestToken(t *testing.T, cl *devcluster.Cluster, change ...string) answer {
	t.Helper()
	return do(t, "POST", cl.TokenURL(), formType, form(cl, change...))
}

func getToken(t *testing.T, cl *devcluster.Cluster) string {
	t.Helper()
	a := requestToken(t, cl)
	if a.status != 200 {
		t.Fatalf("token request: %d %s", a.status, a.body)
	}
	tok, _ := a.json(t)["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token in %s", a.body)
	}
	return tok
}

func topology(t *testing.T, cl *devcluster.Cluster, tok string) answer {
	t.Helper()
	return do(t, "GET", cl.RESTAddress()+"/v1/topology", "", "", "Authorization", "Bearer "+tok)
}

func stats(t *testing.T, cl *devcluster.Cluster) devcluster.Stats {
	t.Helper()
	a := do(t, "GET", cl.URL()+"/_dev/stats", "", "")
	if a.status != 200 {
		t.Fatalf("stats: %d %s", a.status, a.body)
	}
	var s devcluster.Stats
	if err := json.Unmarshal(a.body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0", "10.0.0.1:8080", "no-port"} {
		if cl, err := devcluster.Start(devcluster.Options{Addr: addr}); err == nil {
			cl.Close()
			t.Errorf("Start(%q) succeeded; it must listen on loopback only", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		cl, err := devcluster.Start(devcluster.Options{Addr: addr})
		if err != nil {
			t.Errorf("Start(%q): %v", addr, err)
			continue
		}
		host, _, _ := net.SplitHostPort(strings.TrimPrefix(cl.URL(), "http://"))
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			t.Errorf("Start(%q) listens on %s", addr, cl.URL())
		}
		cl.Close()
	}
}

func TestDefaultsAndEnv(t *testing.T) {
	cl := start(t, devcluster.Options{})
	o := cl.Options()
	if o.ClientID != "zbauth-dev" || o.ClientSecret != "zbauth-dev-secret" || o.Audience != "zeebe.camunda.io" ||
		o.Brokers != 3 || o.Partitions != 3 || o.Replication != 3 || o.TokenLifetime != time.Hour {
		t.Errorf("defaults = %+v", o)
	}
	if o.Auth != "oauth" || o.BasicUsername != "zbauth-dev-user" || o.BasicPassword != "zbauth-dev-password" ||
		o.StaticToken != "zbauth-dev-static-token" || o.KeystorePassword != "zbauth-dev-keystore" || o.TokenAuthMethod != "" {
		t.Errorf("defaults = %+v", o)
	}
	env := envMap(t, cl)
	want := merge(devEnv(cl), map[string]string{
		"ZEEBE_REST_ADDRESS": cl.URL(), "ZEEBE_AUTHORIZATION_SERVER_URL": cl.URL() + "/oauth/token",
		"ZEEBE_CLIENT_ID": "zbauth-dev", "ZEEBE_CLIENT_SECRET": "zbauth-dev-secret", "ZEEBE_TOKEN_AUDIENCE": "zeebe.camunda.io",
	})
	if !reflect.DeepEqual(env, want) {
		t.Errorf("Env() = %v, want %v", env, want)
	}
	// Replication never exceeds the broker count.
	if o := start(t, devcluster.Options{Brokers: 2, Replication: 5}).Options(); o.Replication != 2 {
		t.Errorf("replication %d with 2 brokers", o.Replication)
	}
}

func TestTokenEndpoint(t *testing.T) {
	cl := start(t, devcluster.Options{ClientID: "id", ClientSecret: "s3cret", Audience: "aud", TokenLifetime: 90 * time.Second})
	a := requestToken(t, cl, "scope", "read write")
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s", a.status, a.body)
	}
	m := a.json(t)
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(90) || m["scope"] != "read write" {
		t.Errorf("answer = %v", m)
	}
	// An HS256 JWT with the expected claims.
	parts := strings.Split(m["access_token"].(string), ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT: %v", m["access_token"])
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	json.Unmarshal(raw, &claims)
	if claims["aud"] != "aud" || claims["sub"] != "id" || claims["scope"] != "read write" ||
		claims["exp"].(float64)-claims["iat"].(float64) != 90 {
		t.Errorf("claims = %v", claims)
	}
	st := stats(t, cl)
	want := map[string]string{"grant_type": "client_credentials", "client_id": "id", "client_secret": "(set)", "audience": "aud", "scope": "read write"}
	if st.TokenRequests != 1 || st.TokensIssued != 1 || !reflect.DeepEqual(st.LastTokenForm, want) {
		t.Errorf("stats = %+v", st)
	}
	if strings.Contains(string(do(t, "GET", cl.URL()+"/_dev/stats", "", "").body), "s3cret") {
		t.Errorf("stats show the client secret")
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	cl := start(t, devcluster.Options{})
	tests := []struct {
		name           string
		method, ctype  string
		body           string
		status         int
		oauthErrorCode string
	}{
		{"GET", "GET", "", "", 405, "invalid_request"},
		{"JSON body", "POST", "application/json", `{"grant_type":"client_credentials"}`, 400, "invalid_request"},
		{"other grant", "POST", formType, form(cl, "grant_type", "password"), 400, "unsupported_grant_type"},
		{"wrong secret", "POST", formType, form(cl, "client_secret", "nope"), 401, "invalid_client"},
		{"wrong client", "POST", formType, form(cl, "client_id", "nobody"), 401, "invalid_client"},
		{"wrong audience", "POST", formType, form(cl, "audience", "elsewhere"), 400, "invalid_target"},
		{"malformed form", "POST", formType, "%zz", 400, "invalid_request"},
	}
	for _, tt := range tests {
		a := do(t, tt.method, cl.TokenURL(), tt.ctype, tt.body)
		if a.status != tt.status || a.json(t)["error"] != tt.oauthErrorCode {
			t.Errorf("%s: %d %s, want %d %s", tt.name, a.status, a.body, tt.status, tt.oauthErrorCode)
		}
	}
	if st := stats(t, cl); st.TokenRequests != int64(len(tests)) || st.TokensIssued != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestAPIVerifiesTokens(t *testing.T) {
	cl := start(t, devcluster.Options{})
	tok := getToken(t, cl)
	if a := topology(t, cl, tok); a.status != 200 || a.json(t)["clusterSize"] != float64(3) {
		t.Fatalf("topology: %d %s", a.status, a.body)
	}
	other := start(t, devcluster.Options{})
	otherTok := getToken(t, other)
	parts := strings.Split(tok, ".")
	for name, bad := range map[string]string{
		"no token":           "",
		"not a JWT":          "opaque",
		"another cluster's":  otherTok,
		"tampered claims":    parts[0] + "." + parts[1] + "x." + parts[2],
		"tampered signature": parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
	} {
		a := topology(t, cl, bad)
		if a.status != 401 || !strings.HasPrefix(a.header.Get("Content-Type"), "application/problem+json") ||
			!strings.Contains(a.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %d %v %s", name, a.status, a.header, a.body)
		}
	}
	a := do(t, "GET", cl.RESTAddress()+"/v1/topology", "", "")
	if a.status != 401 {
		t.Errorf("no Authorization header: %d", a.status)
	}
	st := stats(t, cl)
	if st.APIRequests != 7 || st.APIRejected != 6 {
		t.Errorf("stats = %+v, want 7 API requests, 6 rejected", st)
	}
	// Other endpoints.
	if a := do(t, "POST", cl.RESTAddress()+"/v1/topology", "", "", "Authorization", "Bearer "+tok); a.status != 405 {
		t.Errorf("POST topology: %d", a.status)
	}
	if a := do(t, "GET", cl.RESTAddress()+"/v2/nothing-here", "", "", "Authorization", "Bearer "+tok); a.status != 404 || a.json(t)["title"] != "Not Found" {
		t.Errorf("unknown endpoint: %d %s", a.status, a.body)
	}
	a = do(t, "PUT", cl.RESTAddress()+"/v2/echo", "application/json", `{"x":[1,"y"]}`, "Authorization", "Bearer "+tok)
	if a.status != 200 || !reflect.DeepEqual(a.json(t), map[string]any{"method": "PUT", "path": "/v2/echo", "body": map[string]any{"x": []any{1.0, "y"}}}) {
		t.Errorf("echo: %d %s", a.status, a.body)
	}
	if a := do(t, "POST", cl.RESTAddress()+"/v2/echo", "application/json", `{`, "Authorization", "Bearer "+tok); a.status != 400 {
		t.Errorf("echo of bad JSON: %d", a.status)
	}
}

func TestTopologyShape(t *testing.T) {
	cl := start(t, devcluster.Options{Brokers: 5, Partitions: 7, Replication: 3, Version: "9.9.9"})
	var top struct {
		Brokers []struct {
			NodeID     int
			Host       string
			Version    string
			Partitions []struct {
				PartitionID int
				Role        string
				Health      string
			}
		}
		ClusterSize, PartitionsCount, ReplicationFactor int
		GatewayVersion                                  string
	}
	if err := json.Unmarshal(topology(t, cl, getToken(t, cl)).body, &top); err != nil {
		t.Fatal(err)
	}
	if top.ClusterSize != 5 || top.PartitionsCount != 7 || top.ReplicationFactor != 3 || top.GatewayVersion != "9.9.9" || len(top.Brokers) != 5 {
		t.Fatalf("topology = %+v", top)
	}
	leaders, replicas := map[int]int{}, map[int]int{}
	for _, b := range top.Brokers {
		for _, p := range b.Partitions {
			replicas[p.PartitionID]++
			if p.Role == "leader" {
				leaders[p.PartitionID]++
			}
		}
	}
	for p := 1; p <= 7; p++ {
		if leaders[p] != 1 || replicas[p] != 3 {
			t.Errorf("partition %d: %d leaders, %d replicas", p, leaders[p], replicas[p])
		}
	}
}

func postJSON(t *testing.T, u, body string) answer {
	t.Helper()
	return do(t, "POST", u, "application/json", body)
}

func TestFaultsOverHTTP(t *testing.T) {
	cl := start(t, devcluster.Options{})
	faults := cl.URL() + "/_dev/faults"

	// One object: the next token request fails, the one after succeeds.
	if a := postJSON(t, faults, `{"target":"token","status":503,"times":1,"retry_after":"7"}`); a.status != 204 {
		t.Fatalf("POST fault: %d %s", a.status, a.body)
	}
	a := requestToken(t, cl)
	if a.status != 503 || a.header.Get("Retry-After") != "7" || a.json(t)["error"] != "server_error" {
		t.Errorf("faulted token request: %d %v %s", a.status, a.header, a.body)
	}
	tok := getToken(t, cl)

	// An array, applied in order; "times" counts down.
	if a := postJSON(t, faults, `[{"target":"api","status":403,"times":2},{"target":"api","status":429,"body":"{\"title\":\"slow\"}","content_type":"application/x-custom"}]`); a.status != 204 {
		t.Fatalf("POST faults: %d %s", a.status, a.body)
	}
	for i := range 2 {
		a := topology(t, cl, tok)
		if a.status != 403 || a.json(t)["title"] != "Forbidden" || !strings.HasPrefix(a.header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("fault %d: %d %v %s", i, a.status, a.header, a.body)
		}
	}
	for range 3 { // times 0: until cleared
		a := topology(t, cl, tok)
		if a.status != 429 || a.header.Get("Content-Type") != "application/x-custom" || string(a.body) != `{"title":"slow"}` {
			t.Errorf("lasting fault: %d %v %s", a.status, a.header, a.body)
		}
	}
	// Token requests are not affected by API faults.
	getToken(t, cl)
	if a := do(t, "DELETE", faults, "", ""); a.status != 204 {
		t.Fatalf("DELETE faults: %d", a.status)
	}
	if a := topology(t, cl, tok); a.status != 200 {
		t.Errorf("after DELETE: %d", a.status)
	}

	// body_base64: bytes that are not UTF-8, sent as they are.
	raw := "{\"access_token\":\"t\xff\xfe\"}"
	if a := postJSON(t, faults, `{"target":"token","status":200,"times":1,"body_base64":"`+base64.StdEncoding.EncodeToString([]byte(raw))+`"}`); a.status != 204 {
		t.Fatalf("POST body_base64 fault: %d %s", a.status, a.body)
	}
	if a := requestToken(t, cl); a.status != 200 || string(a.body) != raw {
		t.Errorf("body_base64 fault answered %d %q, want 200 %q", a.status, a.body, raw)
	}

	// Refused fault documents queue nothing.
	for _, bad := range []string{`{"target":"database"}`, `[{"target":"api"},{"target":"x"}]`, `{"target":"api","bogus":1}`, `{`, `"api"`,
		`{"target":"api","status":200,"body_base64":"not base64!"}`, `{"target":"api","status":200,"body":"x","body_base64":"eA=="}`} {
		if a := postJSON(t, faults, bad); a.status != 400 {
			t.Errorf("POST %s: %d, want 400", bad, a.status)
		}
	}
	if a := topology(t, cl, tok); a.status != 200 {
		t.Errorf("a refused fault was queued: %d", a.status)
	}
	if a := do(t, "GET", faults, "", ""); a.status != 405 {
		t.Errorf("GET faults: %d", a.status)
	}
}

func TestFaultKinds(t *testing.T) {
	cl := start(t, devcluster.Options{})
	tok := getToken(t, cl)

	// Delay only: the normal answer, later.
	cl.AddFault(devcluster.Fault{Target: "token", DelayMS: 200, Times: 1})
	start := time.Now()
	getToken(t, cl)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("delayed answer came after %v", d)
	}

	// Filler body with Content-Length.
	cl.AddFault(devcluster.Fault{Target: "api", BodyBytes: 100000, Times: 1})
	a := topology(t, cl, tok)
	if a.status != 200 || len(a.body) != 100000 || a.header.Get("Content-Length") != "100000" {
		t.Errorf("body_bytes: %d, %d bytes, Content-Length %q", a.status, len(a.body), a.header.Get("Content-Length"))
	}

	// Redirect with Location.
	cl.AddFault(devcluster.Fault{Target: "api", Status: 307, Location: "/v2/topology", Times: 1})
	req, _ := http.NewRequest("GET", cl.RESTAddress()+"/v1/topology", nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "/v2/topology" {
		t.Errorf("redirect fault: %d %v", resp.StatusCode, resp.Header)
	}

	// Dropped connection.
	cl.AddFault(devcluster.Fault{Target: "token", Close: true, Times: 1})
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, _ = http.NewRequest("POST", cl.TokenURL(), strings.NewReader(form(cl)))
	req.Header.Set("Content-Type", formType)
	if resp, err := tr.RoundTrip(req); err == nil {
		resp.Body.Close()
		t.Errorf("close fault answered %d", resp.StatusCode)
	}

	// Default OAuth error bodies by status.
	for status, code := range map[int]string{400: "invalid_request", 401: "invalid_client", 429: "slow_down", 502: "server_error"} {
		cl.AddFault(devcluster.Fault{Target: "token", Status: status, Times: 1})
		if a := requestToken(t, cl); a.status != status || a.json(t)["error"] != code {
			t.Errorf("token fault %d: %d %s", status, a.status, a.body)
		}
	}
}

func TestRevokeOverHTTP(t *testing.T) {
	cl := start(t, devcluster.Options{})
	old := getToken(t, cl)
	if a := do(t, "POST", cl.URL()+"/_dev/revoke", "", ""); a.status != 204 {
		t.Fatalf("revoke: %d", a.status)
	}
	if a := topology(t, cl, old); a.status != 401 || !strings.Contains(string(a.body), "revoked") {
		t.Errorf("revoked token: %d %s", a.status, a.body)
	}
	if a := topology(t, cl, getToken(t, cl)); a.status != 200 {
		t.Errorf("token issued after revocation: %d", a.status)
	}
	if a := do(t, "GET", cl.URL()+"/_dev/revoke", "", ""); a.status != 405 {
		t.Errorf("GET revoke: %d", a.status)
	}
}

func TestConfigOverHTTP(t *testing.T) {
	cl := start(t, devcluster.Options{})
	cfg := cl.URL() + "/_dev/config"
	if a := postJSON(t, cfg, `{"token_lifetime_s": 2}`); a.status != 204 {
		t.Fatalf("config: %d %s", a.status, a.body)
	}
	if a := requestToken(t, cl); a.json(t)["expires_in"] != float64(2) {
		t.Errorf("expires_in after token_lifetime_s 2: %s", a.body)
	}
	// A token whose lifetime is over is rejected.
	postJSON(t, cfg, `{"token_lifetime_s": 0}`)
	if a := topology(t, cl, getToken(t, cl)); a.status != 401 || !strings.Contains(string(a.body), "expired") {
		t.Errorf("expired token: %d %s", a.status, a.body)
	}
	for _, bad := range []string{`{"lifetime":2}`, `{"token_lifetime_s":"2"}`, `nope`} {
		if a := postJSON(t, cfg, bad); a.status != 400 {
			t.Errorf("config %s: %d, want 400", bad, a.status)
		}
	}
	if a := do(t, "GET", cfg, "", ""); a.status != 405 {
		t.Errorf("GET config: %d", a.status)
	}
	// Go API.
	cl.SetTokenLifetime(42 * time.Second)
	if a := requestToken(t, cl); a.json(t)["expires_in"] != float64(42) {
		t.Errorf("SetTokenLifetime: %s", a.body)
	}
}

func TestResetOverHTTP(t *testing.T) {
	cl := start(t, devcluster.Options{TokenLifetime: time.Minute})
	tok := getToken(t, cl)
	topology(t, cl, tok)
	topology(t, cl, "bad")
	postJSON(t, cl.URL()+"/_dev/config", `{"token_lifetime_s": 5}`)
	postJSON(t, cl.URL()+"/_dev/faults", `{"target":"api","status":500}`)
	if st := stats(t, cl); st.TokenRequests != 1 || st.APIRequests != 2 || st.APIRejected != 1 || !st.LastAuthHeader {
		t.Errorf("stats before reset = %+v", st)
	}
	if a := do(t, "POST", cl.URL()+"/_dev/reset", "", ""); a.status != 204 {
		t.Fatalf("reset: %d", a.status)
	}
	if st := stats(t, cl); st.TokenRequests != 0 || st.TokensIssued != 0 || st.APIRequests != 0 || st.APIRejected != 0 ||
		len(st.LastTokenForm) != 0 || st.LastAuthHeader {
		t.Errorf("stats after reset = %+v", st)
	}
	if a := topology(t, cl, tok); a.status != 200 {
		t.Errorf("fault survived the reset: %d", a.status)
	}
	if a := requestToken(t, cl); a.json(t)["expires_in"] != float64(60) {
		t.Errorf("lifetime not restored: %s", a.body)
	}
	if a := do(t, "GET", cl.URL()+"/_dev/reset", "", ""); a.status != 405 {
		t.Errorf("GET reset: %d", a.status)
	}
}

// The cluster serves concurrent clients (run with -race).
func TestConcurrentUse(t *testing.T) {
	cl := start(t, devcluster.Options{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%5 == 0 {
				cl.AddFault(devcluster.Fault{Target: "api", DelayMS: 1, Times: 1})
			}
			tok := getToken(t, cl)
			if a := topology(t, cl, tok); a.status != 200 {
				t.Errorf("topology: %d", a.status)
			}
			_ = cl.Stats()
		}()
	}
	wg.Wait()
	if st := cl.Stats(); st.TokenRequests != 20 || st.APIRequests != 20 {
		t.Errorf("stats = %+v", st)
	}
}

func TestClose(t *testing.T) {
	cl, err := devcluster.Start(devcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := cl.TokenURL()
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Post(u, formType, strings.NewReader(""))
	if err == nil {
		resp.Body.Close()
		t.Errorf("a closed cluster answered %d", resp.StatusCode)
	}
}
