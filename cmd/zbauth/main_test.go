package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

const secretMarker = "SECRET-MARKER-abc123"

// configVars are every variable the CLI reads, CAMUNDA_* and ZEEBE_*
// alike; tests start from none.
var configVars = func() []string {
	names := []string{core.EnvClusterRegion, core.EnvClusterID}
	for _, n := range core.EnvNames {
		names = append(names, n...)
	}
	return names
}()

// clearEnv unsets every configuration variable for the test.
func clearEnv(t *testing.T) {
	for _, k := range configVars {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// clusterEnv starts a dev cluster and points the environment at it.
func clusterEnv(t *testing.T) *devcluster.Cluster {
	t.Helper()
	clearEnv(t)
	cl, err := devcluster.Start(devcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	for _, kv := range cl.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return cl
}

// cli runs the CLI in-process and returns its exit code and output.
func cli(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestTopology(t *testing.T) {
	clusterEnv(t)
	code, out, errOut := cli("topology")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr = %q", errOut)
	}
	for _, want := range []string{
		"Cluster size: 3\n", "Partitions count: 3\n", "Replication factor: 3\n", "Gateway version: 8.7.0-dev\n", "Brokers:\n",
		"  Broker 0 - zeebe-0.dev.local:26501\n", "  Broker 2 - zeebe-2.dev.local:26501\n",
		"    Version: 8.7.0-dev\n", "    Partition 1 : Leader, Healthy\n", "    Partition 2 : Follower, Healthy\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	brokers := regexp.MustCompile(`(?m)^  Broker \d+ - \S+:\d+$`).FindAllString(out, -1)
	partitions := regexp.MustCompile(`(?m)^    Partition \d+ : (Leader|Follower), Healthy$`).FindAllString(out, -1)
	if len(brokers) != 3 || len(partitions) != 9 {
		t.Errorf("%d broker lines and %d partition lines, want 3 and 9:\n%s", len(brokers), len(partitions), out)
	}
	if !strings.HasPrefix(out, "Cluster size: 3\n") {
		t.Errorf("output does not start with the cluster size:\n%s", out)
	}
}

// A hostile topology cannot add lines or send terminal controls through
// the human output: control characters in its strings are escaped. --json
// stays exact.
func TestTopologyEscapesControlCharacters(t *testing.T) {
	cl := clusterEnv(t)
	const hostile = `{"clusterSize":1,"partitionsCount":1,"replicationFactor":1,"gatewayVersion":"8.7\u001b]0;title\u0007",` +
		`"brokers":[{"nodeId":0,"host":"zeebe-0\n  Broker 9 - evil:1","port":26501,"version":"\u001b[2J8.7\u202e\u0085",` +
		`"partitions":[{"partitionId":1,"role":"leader\r    Partition 9 : Leader, Healthy","health":"healthy\u0000"}]}]}`
	cl.AddFault(devcluster.Fault{Target: "api", Body: hostile})
	code, out, errOut := cli("topology")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := "Cluster size: 1\nPartitions count: 1\nReplication factor: 1\n" +
		`Gateway version: 8.7\x1b]0;title\a` + "\nBrokers:\n" +
		`  Broker 0 - zeebe-0\n  Broker 9 - evil:1:26501` + "\n" +
		`    Version: \x1b[2J8.7\u202e\u0085` + "\n" +
		`    Partition 1 : Leader\r    partition 9 : leader, healthy, Healthy\x00` + "\n"
	if out != want {
		t.Errorf("topology =\n%s\nwant\n%s", out, want)
	}
	cl.AddFault(devcluster.Fault{Target: "api", Body: hostile})
	code, out, errOut = cli("topology", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d, stderr %q", code, errOut)
	}
	var got core.Topology
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if b := got.Brokers[0]; b.Host != "zeebe-0\n  Broker 9 - evil:1" || b.Version != "\x1b[2J8.7\u202e\u0085" {
		t.Errorf("--json changed the strings: %q %q", b.Host, b.Version)
	}
}

func TestTopologyJSON(t *testing.T) {
	cl := clusterEnv(t)
	code, out, errOut := cli("topology", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if got["clusterSize"] != float64(3) {
		t.Errorf("clusterSize = %v", got["clusterSize"])
	}
	// It is the REST API's own document.
	tok := token(t)
	req, _ := http.NewRequest("GET", cl.RESTAddress()+"/v1/topology", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var wire map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&wire); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(wire)
	if !bytes.Equal(gb, wb) {
		t.Errorf("topology --json =\n%s\nthe API sent\n%s", gb, wb)
	}
}

// token runs `zbauth token` and returns the token it printed.
func token(t *testing.T) string {
	t.Helper()
	code, out, errOut := cli("token")
	if code != 0 {
		t.Fatalf("token: exit %d, stderr %q", code, errOut)
	}
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("token output is not one line: %q", out)
	}
	return strings.TrimSuffix(out, "\n")
}

func TestToken(t *testing.T) {
	cl := clusterEnv(t)
	tok := token(t)
	if tok == "" {
		t.Fatal("empty token")
	}
	// The printed token is accepted by the REST API, as curl would send it.
	req, _ := http.NewRequest("GET", cl.RESTAddress()+"/v2/topology", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the API answered %d to the printed token", resp.StatusCode)
	}
}

// With ZEEBE_TOKEN_CACHE_DIR, runs of `zbauth token` share one token; a
// directory others can write to (like /tmp) is refused with a warning,
// left as it is, and a token planted there is not printed.
func TestTokenCacheDir(t *testing.T) {
	cl := clusterEnv(t)
	var logged bytes.Buffer
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })

	dir := filepath.Join(t.TempDir(), "cache")
	t.Setenv(core.EnvTokenCacheDir, dir)
	if a, b := token(t), token(t); a != b {
		t.Errorf("two runs sharing a cache printed different tokens")
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("two runs sharing a cache made %d token requests, want 1", n)
	}
	if fi, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("created cache directory has mode %v, want 0700", fi.Mode())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files %q, want one", files)
	}
	key := strings.TrimSuffix(filepath.Base(files[0]), ".json")

	shared := t.TempDir()
	if err := os.Chmod(shared, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	far := time.Now().Add(time.Hour).UnixMilli()
	planted := fmt.Sprintf(`{"format":"zbauth-token-v1","key":%q,"access_token":"ATTACKER-TOKEN","refresh_at_unix_ms":%d,"expiry_unix_ms":%d}`, key, far, far)
	if err := os.WriteFile(filepath.Join(shared, key+".json"), []byte(planted), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(core.EnvTokenCacheDir, shared)
	if tok := token(t); tok == "ATTACKER-TOKEN" {
		t.Errorf("zbauth token printed the token planted in a world-writable cache directory")
	}
	if fi, err := os.Stat(shared); err != nil {
		t.Fatal(err)
	} else if fi.Mode()&(os.ModeSticky|os.ModePerm) != os.ModeSticky|0o777 {
		t.Errorf("world-writable cache directory chmod'ed to %v", fi.Mode())
	}
	if !strings.Contains(logged.String(), "memory only") {
		t.Errorf("no warning about the refused directory; logged %q", logged.String())
	}
}

func TestWrongSecret(t *testing.T) {
	clusterEnv(t)
	t.Setenv(core.EnvClientSecret, secretMarker)
	for _, cmd := range [][]string{{"token"}, {"topology"}, {"topology", "--json"}} {
		code, out, errOut := cli(cmd...)
		if code != 4 {
			t.Errorf("%v: exit %d, want 4 (authentication)", cmd, code)
		}
		if out != "" {
			t.Errorf("%v: stdout = %q", cmd, out)
		}
		if !strings.Contains(errOut, "invalid_client") {
			t.Errorf("%v: stderr does not explain: %q", cmd, errOut)
		}
		if strings.Contains(errOut, secretMarker) {
			t.Errorf("%v: stderr shows the secret: %q", cmd, errOut)
		}
	}
}

// A token that would inject a header or request into
// curl -H "Authorization: Bearer $(zbauth token)" is never printed.
func TestUnusableTokenNotPrinted(t *testing.T) {
	cl := clusterEnv(t)
	for name, body := range map[string]string{
		"CR/LF":          `{"access_token":"tok\r\nX-Injected: 1\r\n\r\nGET /smuggled HTTP/1.1","expires_in":300}`,
		"NUL":            `{"access_token":"tok\u0000X-Injected","expires_in":300}`,
		"space":          `{"access_token":"tok X-Injected","expires_in":300}`,
		"invalid UTF-8":  "{\"access_token\":\"tok\xffX-Injected\",\"expires_in\":300}",
		"NaN expires_in": `{"access_token":"X-Injected","expires_in":"NaN"}`,
	} {
		cl.ClearFaults()
		cl.AddFault(devcluster.Fault{Target: "token", Status: 200, Body: body})
		code, out, errOut := cli("token")
		if code != 4 {
			t.Errorf("%s: exit %d, want 4 (authentication)", name, code)
		}
		if out != "" || strings.Contains(errOut, "X-Injected") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: stdout %q, stderr %q; want nothing and one line without the token", name, out, errOut)
		}
		if !strings.Contains(errOut, "unusable access token") && !strings.Contains(errOut, "expires_in is not a finite") {
			t.Errorf("%s: stderr does not explain: %q", name, errOut)
		}
	}
}

func TestMissingConfig(t *testing.T) {
	clearEnv(t)
	for _, cmd := range [][]string{{"token"}, {"topology"}} {
		code, out, errOut := cli(cmd...)
		if code != 3 {
			t.Errorf("%v: exit %d, want 3 (configuration)", cmd, code)
		}
		if out != "" {
			t.Errorf("%v: stdout = %q", cmd, out)
		}
		// The names to set are Camunda 8.7+'s, which win over ZEEBE_*.
		for _, v := range []string{"CAMUNDA_CLIENT_ID", "CAMUNDA_CLIENT_SECRET", "CAMUNDA_REST_ADDRESS"} {
			if !strings.Contains(errOut, v) {
				t.Errorf("%v: stderr does not mention %s: %q", cmd, v, errOut)
			}
		}
	}
}

func TestAPIErrorExitCode(t *testing.T) {
	cl := clusterEnv(t)
	cl.AddFault(devcluster.Fault{Target: "api", Status: 403, Times: 1})
	code, _, errOut := cli("topology")
	if code != 5 || !strings.Contains(errOut, "403") {
		t.Errorf("exit %d, stderr %q; want 5 and the status", code, errOut)
	}
}

func TestTransportErrorExitCode(t *testing.T) {
	clusterEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	t.Setenv(core.EnvRESTAddress, dead)
	code, _, errOut := cli("topology")
	if code != 6 {
		t.Errorf("exit %d, stderr %q; want 6 (transport)", code, errOut)
	}
}

func TestExitCodes(t *testing.T) {
	for kind, want := range map[core.Kind]int{
		core.KindArgument: 3, core.KindConfig: 3, core.KindAuth: 4, core.KindAPI: 5,
		core.KindTransport: 6, core.KindTimeout: 7, core.KindInternal: 1,
	} {
		if got := exitCode(&core.Error{Kind: kind}); got != want {
			t.Errorf("exitCode(%v) = %d, want %d", kind, got, want)
		}
	}
	if got := exitCode(errors.New("not ours")); got != 1 {
		t.Errorf("exitCode(foreign error) = %d, want 1", got)
	}
}

func TestUsage(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, 2, "usage: zbauth"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"topology", "extra"}, 2, ""},
		{[]string{"topology", "--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"token", "extra"}, 2, "usage: zbauth token"},
		{[]string{"dev-cluster", "--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"dev-cluster", "--auth", "kerberos"}, 2, `--auth must be oauth, basic or none, not "kerberos"`},
		{[]string{"dev-cluster", "--auth", "BASIC"}, 2, "--auth must be"},
		{[]string{"dev-cluster", "--token-auth-method", "tls_client_auth"}, 2, "--token-auth-method must be one of client_secret_post, client_secret_basic, private_key_jwt"},
		{[]string{"dev-cluster", "--jwt-exp-s", "-1"}, 2, "--jwt-exp-s must not be negative"},
		{[]string{"dev-cluster", "--issuer", "http://127.0.0.1:1", "--auth", "basic"}, 2, "--auth does not apply with --jwks-url/--issuer"},
		{[]string{"dev-cluster", "--jwks-url", "http://127.0.0.1:1/jwks", "--token-auth-method", "private_key_jwt"}, 2, "--token-auth-method does not apply"},
		{[]string{"dev-cluster", "--jwks-url", "http://127.0.0.1:1/jwks", "--jwt-exp-s", "5"}, 2, "--jwt-exp-s does not apply"},
	}
	for _, tt := range tests {
		code, out, errOut := cli(tt.args...)
		if code != tt.code {
			t.Errorf("%q: exit %d, want %d", tt.args, code, tt.code)
		}
		if out != "" {
			t.Errorf("%q: stdout = %q", tt.args, out)
		}
		if !strings.Contains(errOut, tt.inStderr) {
			t.Errorf("%q: stderr %q lacks %q", tt.args, errOut, tt.inStderr)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		if code, out, _ := cli(args...); code != 0 || !strings.Contains(out, "usage: zbauth") {
			t.Errorf("%q: exit %d, stdout %q", args, code, out)
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if code, out, _ := cli(args...); code != 0 || out != "zbauth "+core.Version+"\n" {
			t.Errorf("%q: exit %d, stdout %q", args, code, out)
		}
	}
}

// TestHelperProcess is not a test: `zbauth dev-cluster -- <this binary>`
// runs it as the child command, which then acts as the CLI.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("ZBAUTH_TEST_HELPER_PROBE") != "" {
		os.Exit(probe())
	}
	args, ok := os.LookupEnv("ZBAUTH_TEST_HELPER_ARGS")
	if !ok {
		t.Skip("only run as a child process")
	}
	os.Exit(run(strings.Fields(args), os.Stdout, os.Stderr))
}

// probe is the child of TestDevClusterModes: it prints the cluster's
// environment and what the cluster answers when used as that environment
// says, one KEY=VALUE a line.
func probe() int {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ZEEBE_") || strings.HasPrefix(kv, "CAMUNDA_") || strings.HasPrefix(kv, "ZBAUTH_DEV_") {
			fmt.Println(kv)
		}
	}
	dev := os.Getenv("ZBAUTH_DEV_URL")
	get := func(u, auth string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", u, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if user := os.Getenv("CAMUNDA_BASIC_AUTH_USERNAME"); user != "" {
		req, _ := http.NewRequest("GET", dev, nil)
		req.SetBasicAuth(user, os.Getenv("CAMUNDA_BASIC_AUTH_PASSWORD"))
		status, _ := get(dev+"/v2/topology", req.Header.Get("Authorization"))
		fmt.Printf("probe_basic_topology=%d\n", status)
	}
	status, _ := get(dev+"/v1/topology", "Bearer "+os.Getenv("ZBAUTH_DEV_STATIC_TOKEN"))
	fmt.Printf("probe_static_topology=%d\n", status)
	_, disco := get(dev+"/.well-known/openid-configuration", "")
	fmt.Printf("probe_methods=%v\n", disco["token_endpoint_auth_methods_supported"])
	if id := os.Getenv("ZEEBE_CLIENT_ID"); id != "" {
		body := strings.NewReader("grant_type=client_credentials&audience=" + os.Getenv("ZEEBE_TOKEN_AUDIENCE"))
		req, _ := http.NewRequest("POST", os.Getenv("ZEEBE_AUTHORIZATION_SERVER_URL"), body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, os.Getenv("ZEEBE_CLIENT_SECRET")) // url-encoding leaves these ids as they are
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 1
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string  `json:"access_token"`
			ExpiresIn   float64 `json:"expires_in"`
		}
		json.NewDecoder(resp.Body).Decode(&tok)
		var claims struct{ Iat, Exp float64 }
		if parts := strings.Split(tok.AccessToken, "."); len(parts) == 3 {
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			json.Unmarshal(raw, &claims)
		}
		fmt.Printf("probe_basic_token=%d expires_in=%v exp-iat=%v\n", resp.StatusCode, tok.ExpiresIn, claims.Exp-claims.Iat)
	}
	return 0
}

// The dev-cluster flags reach the cluster, and its environment follows the
// auth mode.
func TestDevClusterModes(t *testing.T) {
	clearEnv(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ZBAUTH_TEST_HELPER_PROBE", "1")
	child := []string{"--", exe, "-test.run=^TestHelperProcess$"}
	lines := func(args ...string) map[string]string {
		t.Helper()
		code, out, errOut := cli(append(append([]string{"dev-cluster"}, args...), child...)...)
		if code != 0 {
			t.Fatalf("dev-cluster %q: exit %d\n%s\n%s", args, code, out, errOut)
		}
		m := map[string]string{}
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				m[k] = v
			}
		}
		if n := strings.Count(out, "ZBAUTH_DEV_URL="); n != 1 {
			t.Errorf("ZBAUTH_DEV_URL appears %d times:\n%s", n, out)
		}
		return m
	}

	m := lines("--auth", "basic", "--basic-user", "u1", "--basic-password", "pw 1")
	if m["CAMUNDA_AUTH_STRATEGY"] != "BASIC" || m["CAMUNDA_BASIC_AUTH_USERNAME"] != "u1" || m["CAMUNDA_BASIC_AUTH_PASSWORD"] != "pw 1" ||
		m["ZEEBE_REST_ADDRESS"] != m["ZBAUTH_DEV_URL"] || m["probe_basic_topology"] != "200" || m["probe_static_topology"] != "401" ||
		m["ZEEBE_CLIENT_ID"] != "" || m["ZBAUTH_DEV_ASSERTION_KEY_PATH"] == "" {
		t.Errorf("--auth basic: %v", m)
	}
	m = lines("--auth", "none")
	if m["CAMUNDA_AUTH_STRATEGY"] != "NONE" || m["probe_static_topology"] != "200" {
		t.Errorf("--auth none: %v", m)
	}
	m = lines("--token-auth-method", "client_secret_basic", "--jwt-exp-s", "7", "--token-lifetime", "1m", "--static-token", "st-1")
	if m["ZBAUTH_DEV_STATIC_TOKEN"] != "st-1" || m["probe_static_topology"] != "200" || m["probe_methods"] != "[client_secret_basic]" ||
		m["probe_basic_token"] != "200 expires_in=60 exp-iat=7" || m["CAMUNDA_TOKEN_AUTH_METHOD"] != "client_secret_basic" {
		t.Errorf("--token-auth-method, --jwt-exp-s, --static-token: %v", m)
	}
	// --assertion-cert registers that certificate; a file that is not one stops the start.
	pemFile := filepath.Join(t.TempDir(), "cert.pem")
	os.WriteFile(pemFile, []byte("not a certificate"), 0o600)
	if code, _, errOut := cli(append([]string{"dev-cluster", "--assertion-cert", pemFile}, child...)...); code != 1 || !strings.Contains(errOut, "AssertionCertPEM") {
		t.Errorf("--assertion-cert with a bad file: exit %d, %s", code, errOut)
	}
	if code, _, errOut := cli(append([]string{"dev-cluster", "--assertion-cert", pemFile + ".missing"}, child...)...); code != 1 || !strings.Contains(errOut, "--assertion-cert") {
		t.Errorf("--assertion-cert with a missing file: exit %d, %s", code, errOut)
	}
}

// dev-cluster -- cmd runs cmd with the cluster's environment and exits
// with cmd's status.
func TestDevClusterRunsCommand(t *testing.T) {
	clearEnv(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := []string{exe, "-test.run=^TestHelperProcess$"}

	t.Setenv("ZBAUTH_TEST_HELPER_ARGS", "topology")
	code, out, errOut := cli(append([]string{"dev-cluster", "--"}, child...)...)
	if code != 0 || !strings.Contains(out, "Cluster size: 3") {
		t.Errorf("dev-cluster -- topology: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}

	// The child's exit status is passed on.
	t.Setenv("ZBAUTH_TEST_HELPER_ARGS", "frobnicate")
	if code, _, _ := cli(append([]string{"dev-cluster", "--"}, child...)...); code != 2 {
		t.Errorf("dev-cluster -- <exit 2>: exit %d", code)
	}

	// The cluster's credentials reach the child, overriding the caller's.
	t.Setenv("ZBAUTH_TEST_HELPER_ARGS", "token")
	t.Setenv(core.EnvClientSecret, "wrong")
	code, out, errOut = cli(append([]string{"dev-cluster", "--client-secret", "other-secret", "--"}, child...)...)
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("dev-cluster --client-secret: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A command that cannot be started.
	code, _, errOut = cli("dev-cluster", "--", "/nonexistent/zbauth-test-command")
	if code != 1 || errOut == "" {
		t.Errorf("missing command: exit %d, stderr %q", code, errOut)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/oauth/token": "http://127.0.0.1:8080/oauth/token",
		"":                                  "''",
		"a b":                               "'a b'",
		"it's":                              `'it'\''s'`,
		"$(rm -rf /)":                       "'$(rm -rf /)'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// ---- CAMUNDA_* names, strategies, /v2 (issue 16) ----

// setEnv sets each KEY=VALUE for the test.
func setEnv(t *testing.T, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

// startCluster starts a dev cluster with opts; the environment is left
// empty, for the test to set.
func startCluster(t *testing.T, opts devcluster.Options) *devcluster.Cluster {
	t.Helper()
	clearEnv(t)
	cl, err := devcluster.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// What Camunda's own clients read, with no ZEEBE_* name set, is enough.
func TestCamundaNamesAlone(t *testing.T) {
	cl := startCluster(t, devcluster.Options{})
	o := cl.Options()
	setEnv(t, "CAMUNDA_CLIENT_ID", o.ClientID, "CAMUNDA_CLIENT_SECRET", o.ClientSecret,
		"CAMUNDA_OAUTH_URL", cl.TokenURL(), "CAMUNDA_REST_ADDRESS", cl.RESTAddress())
	if code, out, errOut := cli("topology"); code != 0 || !strings.HasPrefix(out, "Cluster size: 3\n") {
		t.Fatalf("topology: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if tok := token(t); tok == "" {
		t.Error("empty token")
	}
	if st := cl.Stats(); st.TokenRequests != 2 || st.APIRequests != 1 { // two processes' worth, no shared cache
		t.Errorf("token requests %d, API requests %d; want 2 and 1", st.TokenRequests, st.APIRequests)
	}
}

// Where both are set, the CAMUNDA_* name wins.
func TestCamundaNamesWin(t *testing.T) {
	cl := clusterEnv(t)
	setEnv(t, core.EnvClientSecret, secretMarker, "CAMUNDA_CLIENT_SECRET", cl.Options().ClientSecret)
	if code, _, errOut := cli("topology"); code != 0 {
		t.Fatalf("topology: exit %d, stderr %q", code, errOut)
	}
	// and the other way round: a wrong CAMUNDA_* secret is not rescued by
	// the right ZEEBE_* one
	setEnv(t, core.EnvClientSecret, cl.Options().ClientSecret, "CAMUNDA_CLIENT_SECRET", secretMarker)
	code, out, errOut := cli("topology")
	if code != 4 || strings.Contains(out+errOut, secretMarker) {
		t.Errorf("topology with a wrong CAMUNDA_CLIENT_SECRET: exit %d, want 4, without the secret\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// The mixed set-up: ZEEBE_* credentials, and CAMUNDA_OAUTH_URL
// naming the token endpoint. The token request goes there, not to the
// SaaS default.
func TestMixedSetUpUsesCamundaOAuthURL(t *testing.T) {
	cl := startCluster(t, devcluster.Options{})
	o := cl.Options()
	setEnv(t, core.EnvClientID, o.ClientID, core.EnvClientSecret, o.ClientSecret, core.EnvRESTAddress, cl.RESTAddress(),
		"CAMUNDA_OAUTH_URL", cl.TokenURL())
	// Checked before any request, so that a regression cannot send the
	// test's credentials to login.cloud.camunda.io (nor resolve it).
	cfg, err := core.Config{}.Resolve(os.LookupEnv)
	if err != nil || cfg.AuthorizationServerURL != cl.TokenURL() {
		t.Fatalf("token endpoint %q (%v), want CAMUNDA_OAUTH_URL %q", cfg.AuthorizationServerURL, err, cl.TokenURL())
	}
	if code, out, errOut := cli("topology"); code != 0 || !strings.HasPrefix(out, "Cluster size: 3\n") {
		t.Fatalf("topology: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if n := cl.Stats().TokenRequests; n != 1 {
		t.Errorf("%d token requests reached CAMUNDA_OAUTH_URL, want 1", n)
	}

	// With ZEEBE_AUTHORIZATION_SERVER_URL set too, CAMUNDA_OAUTH_URL still
	// wins: the other endpoint is never asked.
	var decoyHits int
	decoy := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		decoyHits++
		http.Error(w, "not this one", 500)
	}))
	t.Setenv(core.EnvAuthorizationServerURL, decoy+"/oauth/token")
	if code, _, errOut := cli("token"); code != 0 || decoyHits != 0 {
		t.Errorf("token: exit %d, stderr %q; ZEEBE_AUTHORIZATION_SERVER_URL asked %d times, want 0", code, errOut, decoyHits)
	}
}

// newServer serves h on a loopback port until the test ends.
func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// recordingProxy forwards to target and notes each request's path.
func recordingProxy(t *testing.T, target string) (base string, paths func() []string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	rp := httputil.NewSingleHostReverseProxy(u)
	base = newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	return base, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// ZEEBE_REST_ADDRESS ending in /v2 (the new SDKs' form) names the API
// version: topology is GET /v2/topology, never /v2/v1/topology; --json
// carries the v2 fields.
func TestRESTAddressNamingV2(t *testing.T) {
	cl := clusterEnv(t)
	base, paths := recordingProxy(t, cl.RESTAddress())
	t.Setenv(core.EnvRESTAddress, base+"/v2")
	if code, out, errOut := cli("topology"); code != 0 || !strings.HasPrefix(out, "Cluster size: 3\n") {
		t.Fatalf("topology: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut := cli("topology", "--json")
	if code != 0 {
		t.Fatalf("topology --json: exit %d, stderr %q", code, errOut)
	}
	if got := paths(); !slices.Equal(got, []string{"/v2/topology", "/v2/topology"}) {
		t.Errorf("REST paths %q, want /v2/topology twice", got)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	id, _ := got["clusterId"].(string)
	change, _ := got["lastCompletedChangeId"].(string)
	if id == "" || change == "" {
		t.Errorf("--json of a v2 answer lacks clusterId or lastCompletedChangeId:\n%s", out)
	}
}

// A v1 answer has neither v2 field, and --json shows neither.
func TestTopologyJSONOfV1HasNoV2Fields(t *testing.T) {
	clusterEnv(t)
	code, out, errOut := cli("topology", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(out, "clusterId") || strings.Contains(out, "lastCompletedChangeId") {
		t.Errorf("--json of a /v1 answer shows v2 fields:\n%s", out)
	}
}

// After /v1/topology answers 404, the v2 answer's fields reach --json.
func TestTopologyJSONAfterV2Fallback(t *testing.T) {
	cl := clusterEnv(t)
	resp, err := http.Post(cl.URL()+"/_dev/config", "application/json", strings.NewReader(`{"v1_topology":false}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /_dev/config: %s", resp.Status)
	}
	code, out, errOut := cli("topology", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got core.Topology
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.ClusterID == "" || got.LastCompletedChangeID == "" || got.ClusterSize != 3 {
		t.Errorf("--json after the fallback to /v2 = %+v", got)
	}
}

// An unknown strategy or method is a configuration error naming the
// variable to fix.
func TestUnknownStrategyOrMethod(t *testing.T) {
	for name, value := range map[string]string{core.EnvAuthStrategy: "KERBEROS", core.EnvTokenAuthMethod: "tls_client_auth"} {
		clusterEnv(t)
		t.Setenv(name, value)
		for _, cmd := range [][]string{{"token"}, {"topology"}, {"topology", "--json"}} {
			code, out, errOut := cli(cmd...)
			if code != 3 || out != "" || !strings.Contains(errOut, name) {
				t.Errorf("%s=%s %v: exit %d, stdout %q, stderr %q; want 3 and the variable named", name, value, cmd, code, out, errOut)
			}
		}
	}
}

// Under BASIC and NONE there is no token: `zbauth token` exits 3 and says
// why in a sentence, without contacting anything.
func TestTokenWithoutOne(t *testing.T) {
	for _, strategy := range []string{"BASIC", "none"} {
		cl := startCluster(t, devcluster.Options{})
		setEnv(t, core.EnvAuthStrategy, strategy, "CAMUNDA_REST_ADDRESS", cl.RESTAddress(),
			"CAMUNDA_BASIC_AUTH_USERNAME", "demo", "CAMUNDA_BASIC_AUTH_PASSWORD", secretMarker)
		code, out, errOut := cli("token")
		if code != 3 || out != "" {
			t.Errorf("%s: exit %d, stdout %q; want 3 and nothing", strategy, code, out)
		}
		up := strings.ToUpper(strategy)
		if !strings.Contains(errOut, "no access token") || !strings.Contains(errOut, "strategy is "+up) ||
			strings.Count(errOut, "\n") != 1 || strings.Contains(errOut, secretMarker) {
			t.Errorf("%s: stderr %q; want one line saying there is no token under %s, without the password", strategy, errOut, up)
		}
		if st := cl.Stats(); st.TokenRequests != 0 || st.APIRequests != 0 {
			t.Errorf("%s: %d token and %d API requests, want none", strategy, st.TokenRequests, st.APIRequests)
		}
	}
}

// BASIC from CAMUNDA_AUTH_STRATEGY and CAMUNDA_BASIC_AUTH_* against a dev
// cluster in basic mode: topology works with Basic credentials and no
// token endpoint; a wrong password is exit 4; the password is printed
// nowhere, logs included.
func TestBasic(t *testing.T) {
	cl := startCluster(t, devcluster.Options{Auth: "basic", BasicPassword: secretMarker + "-basic"})
	var logged bytes.Buffer
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	setEnv(t, core.EnvAuthStrategy, "BASIC", "CAMUNDA_BASIC_AUTH_USERNAME", cl.Options().BasicUsername,
		"CAMUNDA_BASIC_AUTH_PASSWORD", secretMarker+"-basic", "CAMUNDA_REST_ADDRESS", cl.RESTAddress())
	var all strings.Builder
	code, out, errOut := cli("topology")
	all.WriteString(out + errOut)
	if code != 0 || !strings.HasPrefix(out, "Cluster size: 3\n") {
		t.Errorf("topology: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, errOut = cli("topology", "--json")
	all.WriteString(out + errOut)
	if code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("topology --json: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if st := cl.Stats(); st.TokenRequests != 0 || st.APIRequests != 2 || st.LastAPIAuthScheme != "Basic" {
		t.Errorf("stats %+v; want 2 API requests with Basic and no token request", st)
	}
	code, out, errOut = cli("token")
	all.WriteString(out + errOut)
	if code != 3 || !strings.Contains(errOut, "BASIC") {
		t.Errorf("token: exit %d, stderr %q; want 3", code, errOut)
	}

	t.Setenv("CAMUNDA_BASIC_AUTH_PASSWORD", secretMarker+"-wrong")
	code, out, errOut = cli("topology")
	all.WriteString(out + errOut)
	if code != 4 || !strings.Contains(errOut, "401") || !strings.Contains(errOut, "Basic credentials") {
		t.Errorf("wrong password: exit %d, stderr %q; want 4 naming the status and the credentials", code, errOut)
	}
	if strings.Contains(all.String(), secretMarker) || strings.Contains(logged.String(), secretMarker) {
		t.Errorf("a Basic password was printed:\n%s\nlog: %s", all.String(), logged.String())
	}
}

// The same through `zbauth dev-cluster --auth basic -- zbauth ...`, as a
// user would run it: the cluster's environment names the strategy and
// credentials with the CAMUNDA_* names.
func TestBasicUnderDevCluster(t *testing.T) {
	clearEnv(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const pw = secretMarker + "-dev-cluster"
	for _, tt := range []struct {
		args, inOutput string
		code           int
	}{
		{"topology", "Cluster size: 3\n", 0},
		{"topology --json", `"clusterSize":3`, 0},
		{"token", "there is no access token: the auth strategy is BASIC", 3},
	} {
		t.Setenv("ZBAUTH_TEST_HELPER_ARGS", tt.args)
		code, out, errOut := cli("dev-cluster", "--auth", "basic", "--basic-password", pw, "--", exe, "-test.run=^TestHelperProcess$")
		if code != tt.code || !strings.Contains(out+errOut, tt.inOutput) {
			t.Errorf("%s: exit %d, want %d and %q\nstdout %s\nstderr %s", tt.args, code, tt.code, tt.inOutput, out, errOut)
		}
		args := tt.args
		if strings.Contains(out+errOut, secretMarker) {
			t.Errorf("%s: the Basic password was printed:\n%s\n%s", args, out, errOut)
		}
	}
}
