package devcluster_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zbauth/zbauth/internal/devcluster"
	"software.sslmate.com/src/go-pkcs12"
)

var b64url = base64.RawURLEncoding

func envMap(t *testing.T, cl *devcluster.Cluster) map[string]string {
	t.Helper()
	env := cl.Env()
	if last := env[len(env)-1]; last != "ZBAUTH_DEV_URL="+cl.URL() {
		t.Errorf("Env() ends with %q, want ZBAUTH_DEV_URL last", last)
	}
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			t.Errorf("Env() sets %s twice", k)
		}
		m[k] = v
	}
	return m
}

func devEnv(cl *devcluster.Cluster) map[string]string {
	return map[string]string{
		"ZBAUTH_DEV_URL": cl.URL(), "ZBAUTH_DEV_BASIC_USERNAME": "zbauth-dev-user", "ZBAUTH_DEV_BASIC_PASSWORD": "zbauth-dev-password",
		"ZBAUTH_DEV_STATIC_TOKEN":            "zbauth-dev-static-token",
		"ZBAUTH_DEV_ASSERTION_KEY_PATH":      cl.AssertionKeyPath(),
		"ZBAUTH_DEV_ASSERTION_CERT_PATH":     cl.AssertionCertPath(),
		"ZBAUTH_DEV_ASSERTION_KEYSTORE_PATH": cl.AssertionKeystorePath(), "ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD": "zbauth-dev-keystore",
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{a, b} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestEnvByMode(t *testing.T) {
	basic := start(t, devcluster.Options{Auth: "basic"})
	want := merge(devEnv(basic), map[string]string{"CAMUNDA_AUTH_STRATEGY": "BASIC", "CAMUNDA_BASIC_AUTH_USERNAME": "zbauth-dev-user",
		"CAMUNDA_BASIC_AUTH_PASSWORD": "zbauth-dev-password", "ZEEBE_REST_ADDRESS": basic.URL()})
	if got := envMap(t, basic); !reflect.DeepEqual(got, want) {
		t.Errorf("basic Env() = %v\nwant %v", got, want)
	}
	none := start(t, devcluster.Options{Auth: "none"})
	want = merge(devEnv(none), map[string]string{"CAMUNDA_AUTH_STRATEGY": "NONE", "ZEEBE_REST_ADDRESS": none.URL()})
	if got := envMap(t, none); !reflect.DeepEqual(got, want) {
		t.Errorf("none Env() = %v\nwant %v", got, want)
	}
	// A required method is exported, with what it needs.
	pkj := start(t, devcluster.Options{TokenAuthMethod: "private_key_jwt"})
	env := envMap(t, pkj)
	if env["CAMUNDA_TOKEN_AUTH_METHOD"] != "private_key_jwt" || env["CAMUNDA_CLIENT_ASSERTION_KEY_PATH"] != pkj.AssertionKeyPath() ||
		env["CAMUNDA_CLIENT_ASSERTION_CERT_PATH"] != pkj.AssertionCertPath() || env["ZEEBE_CLIENT_ID"] != "zbauth-dev" {
		t.Errorf("private_key_jwt Env() = %v", env)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ecPEM := selfSigned(t, ecKey, "zbauth-dev")
	own := envMap(t, start(t, devcluster.Options{TokenAuthMethod: "private_key_jwt", AssertionCertPEM: ecPEM}))
	if _, named := own["CAMUNDA_CLIENT_ASSERTION_KEY_PATH"]; named || own["CAMUNDA_TOKEN_AUTH_METHOD"] != "private_key_jwt" {
		t.Errorf("private_key_jwt with a registered certificate: Env() = %v", own)
	}
	if env := envMap(t, start(t, devcluster.Options{TokenAuthMethod: "client_secret_basic"})); env["CAMUNDA_TOKEN_AUTH_METHOD"] != "client_secret_basic" {
		t.Errorf("client_secret_basic Env() = %v", env)
	}
	// JWKS mode: today's names and ZBAUTH_DEV_URL, nothing of the cluster's own credentials.
	jw := start(t, devcluster.Options{JWKSURL: "http://127.0.0.1:1/jwks", Audience: "api"})
	want = map[string]string{"ZEEBE_REST_ADDRESS": jw.URL(), "ZEEBE_TOKEN_AUDIENCE": "api", "ZBAUTH_DEV_URL": jw.URL()}
	if got := envMap(t, jw); !reflect.DeepEqual(got, want) {
		t.Errorf("JWKS Env() = %v\nwant %v", got, want)
	}
}

func TestStartRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]devcluster.Options{
		"auth":           {Auth: "kerberos"},
		"method":         {TokenAuthMethod: "tls_client_auth"},
		"cert":           {AssertionCertPEM: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		"no cert":        {AssertionCertPEM: "hello"},
		"JWKS + basic":   {Auth: "basic", JWKSURL: "http://127.0.0.1:1/jwks"},
		"JWKS + none":    {Auth: "none", Issuer: "http://127.0.0.1:1"},
		"uppercase auth": {Auth: "BASIC"},
	} {
		if cl, err := devcluster.Start(o); err == nil {
			cl.Close()
			t.Errorf("%s: Start(%+v) succeeded", name, o)
		}
	}
}

func TestKeyMaterial(t *testing.T) {
	cl := start(t, devcluster.Options{ClientID: "my-app"})
	dir := filepath.Dir(cl.AssertionKeyPath())
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("key directory %s: %v %v", dir, fi.Mode(), err)
	}
	for _, p := range []string{cl.AssertionKeyPath(), cl.AssertionCertPath(), cl.AssertionKeystorePath()} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(p) != dir {
			t.Errorf("%s: %v %v", p, fi, err)
		}
	}
	key := readKey(t, cl.AssertionKeyPath())
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok || rsaKey.N.BitLen() != 2048 {
		t.Fatalf("key.pem holds %T", key)
	}
	cert := readCert(t, cl.AssertionCertPath())
	if cert.Subject.CommonName != "my-app" || !rsaKey.PublicKey.Equal(cert.PublicKey) || cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
		t.Errorf("cert.pem: CN %q, matches the key: %v", cert.Subject.CommonName, rsaKey.PublicKey.Equal(cert.PublicKey))
	}
	p12, err := os.ReadFile(cl.AssertionKeystorePath())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pkcs12.Decode(p12, "wrong"); err == nil {
		t.Errorf("client.p12 opens with a wrong password")
	}
	pk, pc, err := pkcs12.Decode(p12, cl.AssertionKeystorePassword())
	if err != nil || !rsaKey.Equal(pk) || !pc.Equal(cert) {
		t.Fatalf("client.p12: %v (key matches %v)", err, rsaKey.Equal(pk))
	}
	// The keystore's key signs assertions the cluster accepts.
	if a := assertionRequest(t, cl, pk.(crypto.Signer), "RS256", nil, nil); a.status != 200 {
		t.Errorf("assertion signed with the keystore's key: %d %s", a.status, a.body)
	}
	// Today's OpenSSL and keytool read it, and it is encrypted with AES (PBES2), not RC2/3DES.
	if _, err := exec.LookPath("openssl"); err == nil {
		out, err := exec.Command("openssl", "pkcs12", "-info", "-noout", "-in", cl.AssertionKeystorePath(),
			"-passin", "pass:"+cl.AssertionKeystorePassword()).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PBES2") || !strings.Contains(string(out), "AES-256") ||
			strings.Contains(string(out), "RC2") || strings.Contains(string(out), "3DES") {
			t.Errorf("openssl pkcs12 -info: %v\n%s", err, out)
		}
	}
	if _, err := exec.LookPath("keytool"); err == nil {
		out, err := exec.Command("keytool", "-list", "-storetype", "PKCS12", "-keystore", cl.AssertionKeystorePath(),
			"-storepass", cl.AssertionKeystorePassword()).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PrivateKeyEntry") {
			t.Errorf("keytool -list: %v\n%s", err, out)
		}
	}
	// Close removes the directory.
	cl.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Close, %s: %v", dir, err)
	}
	// JWKS mode writes nothing.
	if jw := start(t, devcluster.Options{JWKSURL: "http://127.0.0.1:1/jwks"}); jw.AssertionKeyPath() != "" || jw.AssertionKeystorePassword() != "" {
		t.Errorf("JWKS mode has key material: %q", jw.AssertionKeyPath())
	}
}

func readKey(t *testing.T, path string) crypto.Signer {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("%s is not a PEM PRIVATE KEY (PKCS#8)", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(crypto.Signer)
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s is not a PEM CERTIFICATE", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// selfSigned makes a certificate for key, as PEM.
func selfSigned(t *testing.T, key crypto.Signer, cn string) (*x509.Certificate, string) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// signJWS builds a compact JWS over header and claims.
func signJWS(t *testing.T, key crypto.Signer, alg string, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": alg, "typ": "JWT"}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(claims)
	msg := b64url.EncodeToString(hb) + "." + b64url.EncodeToString(cb)
	digest := sha256.Sum256([]byte(msg))
	var sig []byte
	var err error
	switch alg {
	case "RS256":
		sig, err = key.Sign(rand.Reader, digest[:], crypto.SHA256)
	case "PS256":
		sig, err = key.Sign(rand.Reader, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	default:
		sig = []byte("not a signature")
	}
	if err != nil {
		t.Fatal(err)
	}
	return msg + "." + b64url.EncodeToString(sig)
}

// assertionClaims are valid claims for cl, changed by change (nil deletes).
func assertionClaims(cl *devcluster.Cluster, change map[string]any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{"iss": cl.Options().ClientID, "sub": cl.Options().ClientID, "aud": cl.TokenURL(),
		"iat": now, "nbf": now, "exp": now + 60, "jti": rand.Text()}
	for k, v := range change {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// assertionForm is a private_key_jwt token request form.
func assertionForm(cl *devcluster.Cluster, assertion string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "audience": {cl.Options().Audience},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
}

func assertionRequest(t *testing.T, cl *devcluster.Cluster, key crypto.Signer, alg string, header, claims map[string]any) answer {
	t.Helper()
	jws := signJWS(t, key, alg, header, assertionClaims(cl, claims))
	return do(t, "POST", cl.TokenURL(), formType, assertionForm(cl, jws).Encode())
}

func thumbprints(cert *x509.Certificate) (string, string) {
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	return b64url.EncodeToString(s1[:]), b64url.EncodeToString(s256[:])
}

func wantInvalidClient(t *testing.T, name string, a answer, detail string) {
	t.Helper()
	m := a.json(t)
	if a.status != 401 || m["error"] != "invalid_client" || !strings.Contains(m["error_description"].(string), detail) {
		t.Errorf("%s: %d %s, want 401 invalid_client mentioning %q", name, a.status, a.body, detail)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	cl := start(t, devcluster.Options{ClientID: "pk-client"})
	key := readKey(t, cl.AssertionKeyPath())
	cert := readCert(t, cl.AssertionCertPath())
	x5t, x5tS256 := thumbprints(cert)

	for _, alg := range []string{"RS256", "PS256"} {
		a := assertionRequest(t, cl, key, alg, map[string]any{"x5t": x5t, "x5t#S256": x5tS256, "kid": "k1"}, nil)
		if a.status != 200 || a.json(t)["access_token"] == nil {
			t.Fatalf("%s assertion: %d %s", alg, a.status, a.body)
		}
	}
	// aud as an array naming the token endpoint; no iat, nbf nor x5t.
	if a := assertionRequest(t, cl, key, "RS256", nil, map[string]any{"aud": []string{"other", cl.TokenURL()}, "iat": nil, "nbf": nil}); a.status != 200 {
		t.Errorf("aud array: %d %s", a.status, a.body)
	}
	// client_id in the body, when it is the client's, is fine.
	f := assertionForm(cl, signJWS(t, key, "RS256", nil, assertionClaims(cl, nil)))
	f.Set("client_id", "pk-client")
	if a := do(t, "POST", cl.TokenURL(), formType, f.Encode()); a.status != 200 {
		t.Errorf("with client_id: %d %s", a.status, a.body)
	}

	// Stats: the method, the decoded assertion, never its value.
	claims := assertionClaims(cl, nil)
	jws := signJWS(t, key, "RS256", map[string]any{"x5t": x5t}, claims)
	if a := do(t, "POST", cl.TokenURL(), formType, assertionForm(cl, jws).Encode()); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	st := stats(t, cl)
	if st.LastClientAuth != "private_key_jwt" || st.LastTokenForm["client_assertion"] != "(set)" ||
		st.LastAssertionHeader["x5t"] != x5t || st.LastAssertionHeader["alg"] != "RS256" ||
		st.LastAssertionClaims["jti"] != claims["jti"] || st.LastAssertionClaims["aud"] != cl.TokenURL() {
		t.Errorf("stats = %+v", st)
	}
	if raw := do(t, "GET", cl.URL()+"/_dev/stats", "", "").body; strings.Contains(string(raw), strings.Split(jws, ".")[2]) {
		t.Errorf("stats show the assertion's signature")
	}

	// Every check, failing alone.
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, _ := selfSigned(t, otherKey, "pk-client")
	ox5t, ox5tS256 := thumbprints(otherCert)
	now := time.Now().Unix()
	for _, tt := range []struct {
		name   string
		key    crypto.Signer
		alg    string
		header map[string]any
		claims map[string]any
		detail string
	}{
		{"wrong key", otherKey, "RS256", nil, nil, "signature"},
		{"wrong key, PS256", otherKey, "PS256", nil, nil, "signature"},
		{"x5t of another cert", key, "RS256", map[string]any{"x5t": ox5t}, nil, "x5t does not match"},
		{"x5t#S256 of another cert", key, "RS256", map[string]any{"x5t#S256": ox5tS256}, nil, "x5t#S256 does not match"},
		{"x5t not a string", key, "RS256", map[string]any{"x5t": 5}, nil, "x5t does not match"},
		{"wrong aud", key, "RS256", nil, map[string]any{"aud": cl.URL()}, "aud"},
		{"aud array without it", key, "RS256", nil, map[string]any{"aud": []string{"a", "b"}}, "aud"},
		{"no aud", key, "RS256", nil, map[string]any{"aud": nil}, "aud"},
		{"expired", key, "RS256", nil, map[string]any{"iat": now - 120, "nbf": now - 120, "exp": now - 60}, "expired"},
		{"no exp", key, "RS256", nil, map[string]any{"exp": nil}, "exp"},
		{"lives too long", key, "RS256", nil, map[string]any{"iat": now, "exp": now + 301}, "5 minutes"},
		{"lives too long, no iat", key, "RS256", nil, map[string]any{"iat": nil, "exp": now + 400}, "5 minutes"},
		{"nbf in the future", key, "RS256", nil, map[string]any{"nbf": now + 30}, "nbf"},
		{"iat in the future", key, "RS256", nil, map[string]any{"iat": now + 30, "exp": now + 90}, "iat"},
		{"no jti", key, "RS256", nil, map[string]any{"jti": nil}, "jti"},
		{"wrong iss", key, "RS256", nil, map[string]any{"iss": "someone"}, "iss"},
		{"wrong sub", key, "RS256", nil, map[string]any{"sub": "someone"}, "sub"},
		{"HS256", key, "HS256", nil, nil, "alg"},
		{"alg none", key, "none", nil, nil, "alg"},
		{"ES256 with an RSA cert", key, "ES256Fake", map[string]any{"alg": "ES256"}, nil, "does not fit"},
		{"crit", key, "RS256", map[string]any{"crit": []string{"exp"}}, nil, "critical"},
	} {
		a := assertionRequest(t, cl, tt.key, tt.alg, tt.header, tt.claims)
		wantInvalidClient(t, tt.name, a, tt.detail)
	}
	// The 5 s leeway.
	if a := assertionRequest(t, cl, key, "RS256", nil, map[string]any{"nbf": now + 2, "iat": now + 2}); a.status != 200 {
		t.Errorf("nbf/iat within the leeway: %d %s", a.status, a.body)
	}

	// A replayed jti is refused, even though everything else passes.
	claims = assertionClaims(cl, nil)
	jws = signJWS(t, key, "RS256", nil, claims)
	if a := do(t, "POST", cl.TokenURL(), formType, assertionForm(cl, jws).Encode()); a.status != 200 {
		t.Fatalf("first use: %d %s", a.status, a.body)
	}
	wantInvalidClient(t, "replay", do(t, "POST", cl.TokenURL(), formType, assertionForm(cl, jws).Encode()), "jti has been used before")
	jws = signJWS(t, key, "PS256", nil, claims) // same jti, new signature
	wantInvalidClient(t, "replayed jti", do(t, "POST", cl.TokenURL(), formType, assertionForm(cl, jws).Encode()), "jti")

	// Malformed requests.
	good := signJWS(t, key, "RS256", nil, assertionClaims(cl, nil))
	for name, mod := range map[string]func(url.Values){
		"wrong assertion type": func(v url.Values) {
			v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
		},
		"no assertion type": func(v url.Values) { v.Del("client_assertion_type") },
		"no assertion":      func(v url.Values) { v.Del("client_assertion") },
		"not a JWT":         func(v url.Values) { v.Set("client_assertion", "abc") },
		"not JSON":          func(v url.Values) { v.Set("client_assertion", "eyJ.eyJ.sig") },
		"other client_id":   func(v url.Values) { v.Set("client_id", "other") },
	} {
		v := assertionForm(cl, good)
		mod(v)
		a := do(t, "POST", cl.TokenURL(), formType, v.Encode())
		if a.status != 401 || a.json(t)["error"] != "invalid_client" {
			t.Errorf("%s: %d %s", name, a.status, a.body)
		}
	}
	if st := stats(t, cl); st.LastAssertionHeader != nil || st.LastAssertionClaims != nil {
		t.Errorf("stats after a request without a decodable assertion: %+v", st)
	}
}

func TestRegisteredCertificate(t *testing.T) {
	// An ECDSA certificate given at start: ES256 assertions with its key,
	// and the generated RSA key no longer fits.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecCert, ecPEM := selfSigned(t, ecKey, "zbauth-dev")
	x5t, x5tS256 := thumbprints(ecCert)
	cl := start(t, devcluster.Options{AssertionCertPEM: ecPEM})
	if a := assertionRequest(t, cl, ecKey, "ES256", map[string]any{"x5t": x5t, "x5t#S256": x5tS256}, nil); a.status != 200 {
		t.Fatalf("ES256: %d %s", a.status, a.body)
	}
	generated := readKey(t, cl.AssertionKeyPath())
	wantInvalidClient(t, "RS256 against an EC cert", assertionRequest(t, cl, generated, "RS256", nil, nil), "does not fit")

	// At run time: client_certificate_pem registers another; reset restores.
	cl2 := start(t, devcluster.Options{})
	gen := readKey(t, cl2.AssertionKeyPath())
	if a := postJSON(t, cl2.URL()+"/_dev/config", `{"client_certificate_pem":`+jsonString(ecPEM)+`}`); a.status != 204 {
		t.Fatalf("config: %d %s", a.status, a.body)
	}
	wantInvalidClient(t, "generated key after the change", assertionRequest(t, cl2, gen, "RS256", nil, nil), "fit")
	if a := assertionRequest(t, cl2, ecKey, "ES256", nil, nil); a.status != 200 {
		t.Errorf("the registered key: %d %s", a.status, a.body)
	}
	for _, bad := range []string{`{"client_certificate_pem":"nope"}`, `{"client_certificate_pem":` + jsonString(strings.Replace(ecPEM, "CERTIFICATE", "PUBLIC KEY", 2)) + `}`} {
		if a := postJSON(t, cl2.URL()+"/_dev/config", bad); a.status != 400 {
			t.Errorf("config %s: %d", bad, a.status)
		}
	}
	do(t, "POST", cl2.URL()+"/_dev/reset", "", "")
	if a := assertionRequest(t, cl2, gen, "RS256", nil, nil); a.status != 200 {
		t.Errorf("after reset, the generated key: %d %s", a.status, a.body)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// basicHeader is RFC 6749 §2.3.1's client_secret_basic.
func basicHeader(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func TestClientSecretBasic(t *testing.T) {
	const id, secret = "my client:1", "s3cr:t+&=%é ü"
	cl := start(t, devcluster.Options{ClientID: id, ClientSecret: secret})
	body := url.Values{"grant_type": {"client_credentials"}, "audience": {cl.Options().Audience}}.Encode()
	a := do(t, "POST", cl.TokenURL(), formType, body, "Authorization", basicHeader(id, secret))
	if a.status != 200 {
		t.Fatalf("client_secret_basic: %d %s", a.status, a.body)
	}
	if st := stats(t, cl); st.LastClientAuth != "client_secret_basic" || st.LastTokenForm["client_secret"] != "" {
		t.Errorf("stats = %+v", st)
	}
	// The client id may be repeated in the body.
	if a := do(t, "POST", cl.TokenURL(), formType, body+"&client_id="+url.QueryEscape(id), "Authorization", basicHeader(id, secret)); a.status != 200 {
		t.Errorf("with client_id in the body: %d %s", a.status, a.body)
	}
	raw := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	for name, tt := range map[string]struct {
		header, body string
		status       int
		code         string
	}{
		"wrong password":          {basicHeader(id, "wrong"), body, 401, "invalid_client"},
		"wrong id":                {basicHeader("other", secret), body, 401, "invalid_client"},
		"not form-urlencoded":     {raw, body, 401, "invalid_client"},
		"not base64":              {"Basic !!!", body, 401, "invalid_client"},
		"no colon":                {"Basic " + base64.StdEncoding.EncodeToString([]byte("x")), body, 401, "invalid_client"},
		"other client_id in body": {basicHeader(id, secret), body + "&client_id=other", 401, "invalid_client"},
		"with client_secret too":  {basicHeader(id, secret), body + "&client_id=" + url.QueryEscape(id) + "&client_secret=" + url.QueryEscape(secret), 400, "invalid_request"},
		"with an assertion too":   {basicHeader(id, secret), body + "&client_assertion_type=x&client_assertion=y", 400, "invalid_request"},
		"no authentication":       {"", body, 401, "invalid_client"},
	} {
		a := do(t, "POST", cl.TokenURL(), formType, tt.body, "Authorization", tt.header)
		if a.status != tt.status || a.json(t)["error"] != tt.code {
			t.Errorf("%s: %d %s, want %d %s", name, a.status, a.body, tt.status, tt.code)
		}
		// RFC 6749 §5.2: a 401 for Authorization-header credentials carries a challenge.
		if tt.status == 401 && tt.header != "" && a.header.Get("WWW-Authenticate") != `Basic realm="zbauth-dev"` {
			t.Errorf("%s: WWW-Authenticate %q", name, a.header.Get("WWW-Authenticate"))
		}
	}
	do(t, "POST", cl.TokenURL(), formType, body)
	if st := stats(t, cl); st.LastClientAuth != "" {
		t.Errorf("last_client_auth after a request without one: %q", st.LastClientAuth)
	}
	// Post and an assertion at once.
	v := assertionForm(cl, "a.b.c")
	v.Set("client_id", id)
	v.Set("client_secret", secret)
	if a := do(t, "POST", cl.TokenURL(), formType, v.Encode()); a.status != 400 || !strings.Contains(string(a.body), "more than one") {
		t.Errorf("post + assertion: %d %s", a.status, a.body)
	}
	if strings.Contains(string(do(t, "GET", cl.URL()+"/_dev/stats", "", "").body), "s3cr") {
		t.Errorf("stats show the secret")
	}
}

func TestTokenAuthMethodRequired(t *testing.T) {
	cl := start(t, devcluster.Options{TokenAuthMethod: "client_secret_basic"})
	o := cl.Options()
	body := url.Values{"grant_type": {"client_credentials"}, "audience": {o.Audience}}.Encode()
	wantInvalidClient(t, "post when basic is required", requestToken(t, cl), "this client must authenticate with client_secret_basic")
	if st := stats(t, cl); st.LastClientAuth != "client_secret_post" {
		t.Errorf("last_client_auth = %q", st.LastClientAuth)
	}
	if a := do(t, "POST", cl.TokenURL(), formType, body, "Authorization", basicHeader(o.ClientID, o.ClientSecret)); a.status != 200 {
		t.Errorf("basic: %d %s", a.status, a.body)
	}
	// Changed at run time, and restored by reset.
	postJSON(t, cl.URL()+"/_dev/config", `{"token_auth_method":"private_key_jwt"}`)
	wantInvalidClient(t, "basic when private_key_jwt is required",
		do(t, "POST", cl.TokenURL(), formType, body, "Authorization", basicHeader(o.ClientID, o.ClientSecret)), "must authenticate with private_key_jwt")
	if a := assertionRequest(t, cl, readKey(t, cl.AssertionKeyPath()), "RS256", nil, nil); a.status != 200 {
		t.Errorf("private_key_jwt: %d %s", a.status, a.body)
	}
	postJSON(t, cl.URL()+"/_dev/config", `{"token_auth_method":""}`)
	if a := requestToken(t, cl); a.status != 200 {
		t.Errorf("any method: %d %s", a.status, a.body)
	}
	do(t, "POST", cl.URL()+"/_dev/reset", "", "")
	wantInvalidClient(t, "after reset", requestToken(t, cl), "must authenticate with client_secret_basic")
}

func TestRESTAuthModes(t *testing.T) {
	get := func(cl *devcluster.Cluster, header ...string) answer {
		return do(t, "GET", cl.RESTAddress()+"/v2/topology", "", "", header...)
	}
	basicAuth := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}

	b := start(t, devcluster.Options{Auth: "basic", BasicUsername: "demo", BasicPassword: "p@ss:word"})
	if a := get(b, "Authorization", basicAuth("demo", "p@ss:word")); a.status != 200 {
		t.Fatalf("basic: %d %s", a.status, a.body)
	}
	if st := stats(t, b); st.LastAPIAuthScheme != "Basic" || st.LastAuthHeader {
		t.Errorf("stats = %+v", st)
	}
	for name, h := range map[string]string{
		"wrong password": basicAuth("demo", "p@ss:wordx"), "wrong user": basicAuth("demo2", "p@ss:word"),
		"no header": "", "a bearer token": "Bearer " + getToken(t, b), "static token": "Bearer zbauth-dev-static-token",
	} {
		a := get(b, "Authorization", h)
		if a.status != 401 || a.header.Get("WWW-Authenticate") != `Basic realm="zbauth-dev"` ||
			!strings.HasPrefix(a.header.Get("Content-Type"), "application/problem+json") || a.json(t)["status"] != float64(401) {
			t.Errorf("basic, %s: %d %v %s", name, a.status, a.header, a.body)
		}
		if strings.Contains(string(a.body), "p@ss") {
			t.Errorf("basic, %s: the answer shows the password", name)
		}
	}

	n := start(t, devcluster.Options{Auth: "none"})
	for _, h := range []string{"", "Bearer whatever", "Basic eDp5"} {
		if a := get(n, "Authorization", h); a.status != 200 {
			t.Errorf("none, %q: %d %s", h, a.status, a.body)
		}
	}
	if st := stats(t, n); st.APIRejected != 0 || st.LastAPIAuthScheme != "Basic" {
		t.Errorf("stats = %+v", st)
	}

	o := start(t, devcluster.Options{StaticToken: "my-static"})
	if a := get(o, "Authorization", "Bearer my-static"); a.status != 200 {
		t.Errorf("static token: %d %s", a.status, a.body)
	}
	if st := stats(t, o); st.LastAPIAuthScheme != "Bearer" {
		t.Errorf("stats = %+v", st)
	}
	for _, h := range []string{"Bearer zbauth-dev-static-token", "Bearer my-stati", "Bearer my-staticc", basicAuth("zbauth-dev-user", "zbauth-dev-password")} {
		if a := get(o, "Authorization", h); a.status != 401 {
			t.Errorf("oauth, %q: %d", h, a.status)
		}
	}
	if st := stats(t, o); st.LastAPIAuthScheme != "Basic" {
		t.Errorf("stats = %+v", st)
	}

	// Switched at run time; reset restores.
	postJSON(t, o.URL()+"/_dev/config", `{"auth":"basic"}`)
	if a := get(o, "Authorization", basicAuth("zbauth-dev-user", "zbauth-dev-password")); a.status != 200 {
		t.Errorf("switched to basic: %d %s", a.status, a.body)
	}
	postJSON(t, o.URL()+"/_dev/config", `{"auth":"none"}`)
	if a := get(o); a.status != 200 {
		t.Errorf("switched to none: %d %s", a.status, a.body)
	}
	do(t, "POST", o.URL()+"/_dev/reset", "", "")
	if a := get(o); a.status != 401 {
		t.Errorf("after reset: %d", a.status)
	}
	if st := stats(t, o); st.LastAPIAuthScheme != "" {
		t.Errorf("stats = %+v", st)
	}
}

func TestDiscovery(t *testing.T) {
	cl := start(t, devcluster.Options{})
	doc := func() map[string]any {
		t.Helper()
		a := do(t, "GET", cl.DiscoveryURL(), "", "")
		if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
			t.Fatalf("discovery: %d %s", a.status, a.body)
		}
		return a.json(t)
	}
	if cl.DiscoveryURL() != cl.URL()+"/.well-known/openid-configuration" {
		t.Errorf("DiscoveryURL() = %s", cl.DiscoveryURL())
	}
	d := doc()
	if d["issuer"] != cl.URL() || d["token_endpoint"] != cl.TokenURL() ||
		!reflect.DeepEqual(d["grant_types_supported"], []any{"client_credentials"}) ||
		!reflect.DeepEqual(d["token_endpoint_auth_methods_supported"], []any{"client_secret_post", "client_secret_basic", "private_key_jwt"}) {
		t.Errorf("discovery = %v", d)
	}
	postJSON(t, cl.URL()+"/_dev/config", `{"token_auth_method":"client_secret_basic"}`)
	if m := doc()["token_endpoint_auth_methods_supported"]; !reflect.DeepEqual(m, []any{"client_secret_basic"}) {
		t.Errorf("with a required method: %v", m)
	}
	postJSON(t, cl.URL()+"/_dev/config", `{"discovery_methods":["private_key_jwt","tls_client_auth"]}`)
	if m := doc()["token_endpoint_auth_methods_supported"]; !reflect.DeepEqual(m, []any{"private_key_jwt", "tls_client_auth"}) {
		t.Errorf("discovery_methods: %v", m)
	}
	postJSON(t, cl.URL()+"/_dev/config", `{"discovery_methods":[]}`)
	if m := doc()["token_endpoint_auth_methods_supported"]; !reflect.DeepEqual(m, []any{}) {
		t.Errorf("discovery_methods []: %v", m)
	}
	// Faults aimed at discovery leave the token endpoint alone.
	postJSON(t, cl.URL()+"/_dev/faults", `{"target":"discovery","status":503,"times":1}`)
	if a := do(t, "GET", cl.DiscoveryURL(), "", ""); a.status != 503 || a.json(t)["error"] != "server_error" {
		t.Errorf("discovery fault: %d %s", a.status, a.body)
	}
	cl.AddFault(devcluster.Fault{Target: "discovery", Status: 200, Body: `{"issuer":"x"}`, Times: 1})
	postJSON(t, cl.URL()+"/_dev/config", `{"token_auth_method":""}`)
	if a := requestToken(t, cl); a.status != 200 {
		t.Errorf("token request during a discovery fault: %d", a.status)
	}
	if a := do(t, "GET", cl.DiscoveryURL(), "", ""); string(a.body) != `{"issuer":"x"}` {
		t.Errorf("scripted discovery: %s", a.body)
	}
	if a := do(t, "POST", cl.DiscoveryURL(), "", ""); a.status != 405 {
		t.Errorf("POST discovery: %d", a.status)
	}
	if st := stats(t, cl); st.DiscoveryRequests != 7 || st.TokenRequests != 1 {
		t.Errorf("stats = %+v, want 7 discovery requests", st)
	}
	do(t, "POST", cl.URL()+"/_dev/reset", "", "")
	if st := stats(t, cl); st.DiscoveryRequests != 0 {
		t.Errorf("after reset: %+v", st)
	}
	if m := doc()["token_endpoint_auth_methods_supported"]; len(m.([]any)) != 3 {
		t.Errorf("after reset: %v", m)
	}
	pk := start(t, devcluster.Options{TokenAuthMethod: "private_key_jwt"})
	if got := do(t, "GET", pk.DiscoveryURL(), "", "").json(t)["token_endpoint_auth_methods_supported"]; !reflect.DeepEqual(got, []any{"private_key_jwt"}) {
		t.Errorf("Options.TokenAuthMethod: %v", got)
	}
}

func TestTopologyV2AndV1Switch(t *testing.T) {
	cl := start(t, devcluster.Options{})
	tok := getToken(t, cl)
	v2 := do(t, "GET", cl.RESTAddress()+"/v2/topology", "", "", "Authorization", "Bearer "+tok).json(t)
	v1 := topology(t, cl, tok).json(t)
	if v2["lastCompletedChangeId"] != "-1" || v2["clusterId"] != "zbauth-dev" {
		t.Errorf("/v2/topology = %v", v2)
	}
	if _, ok := v1["clusterId"]; ok {
		t.Errorf("/v1/topology has v2 fields: %v", v1)
	}
	if _, ok := v1["lastCompletedChangeId"]; ok {
		t.Errorf("/v1/topology has v2 fields: %v", v1)
	}
	delete(v2, "clusterId")
	delete(v2, "lastCompletedChangeId")
	if !reflect.DeepEqual(v1, v2) {
		t.Errorf("v1 and v2 differ beyond the v2 fields:\n%v\n%v", v1, v2)
	}
	postJSON(t, cl.URL()+"/_dev/config", `{"v1_topology":false}`)
	if a := topology(t, cl, tok); a.status != 404 || !strings.HasPrefix(a.header.Get("Content-Type"), "application/problem+json") || a.json(t)["status"] != float64(404) {
		t.Errorf("v1 switched off: %d %s", a.status, a.body)
	}
	if a := do(t, "GET", cl.RESTAddress()+"/v2/topology", "", "", "Authorization", "Bearer "+tok); a.status != 200 {
		t.Errorf("v2 with v1 off: %d", a.status)
	}
	do(t, "POST", cl.URL()+"/_dev/reset", "", "")
	if a := topology(t, cl, tok); a.status != 200 {
		t.Errorf("v1 after reset: %d", a.status)
	}
}

func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := b64url.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

func TestJWTExpShorterThanExpiresIn(t *testing.T) {
	cl := start(t, devcluster.Options{JWTExp: 30 * time.Second, TokenLifetime: time.Hour})
	a := requestToken(t, cl)
	m := a.json(t)
	c := claimsOf(t, m["access_token"].(string))
	if m["expires_in"] != float64(3600) || c["exp"].(float64)-c["iat"].(float64) != 30 {
		t.Errorf("expires_in %v, exp - iat %v", m["expires_in"], c["exp"].(float64)-c["iat"].(float64))
	}
	// jwt_exp_s 0: the JWT is expired as issued, and the REST side says so.
	postJSON(t, cl.URL()+"/_dev/config", `{"jwt_exp_s":0}`)
	a = requestToken(t, cl)
	m = a.json(t)
	if m["expires_in"] != float64(3600) {
		t.Errorf("expires_in %v", m["expires_in"])
	}
	if r := topology(t, cl, m["access_token"].(string)); r.status != 401 || !strings.Contains(string(r.body), "expired") {
		t.Errorf("expired JWT: %d %s", r.status, r.body)
	}
	// A negative value: exp follows the lifetime again.
	postJSON(t, cl.URL()+"/_dev/config", `{"jwt_exp_s":-1,"token_lifetime_s":120}`)
	c = claimsOf(t, getToken(t, cl))
	if c["exp"].(float64)-c["iat"].(float64) != 120 {
		t.Errorf("exp - iat = %v, want 120", c["exp"].(float64)-c["iat"].(float64))
	}
	postJSON(t, cl.URL()+"/_dev/config", `{"jwt_exp_s":5}`)
	do(t, "POST", cl.URL()+"/_dev/reset", "", "")
	c = claimsOf(t, getToken(t, cl))
	if c["exp"].(float64)-c["iat"].(float64) != 30 {
		t.Errorf("after reset, exp - iat = %v, want 30", c["exp"].(float64)-c["iat"].(float64))
	}
}

func TestConfigRefusalsChangeNothing(t *testing.T) {
	cl := start(t, devcluster.Options{})
	for _, bad := range []string{
		`{"auth":"BASIC"}`, `{"auth":"kerberos"}`, `{"token_auth_method":"tls_client_auth"}`,
		`{"auth":"none","token_auth_method":"bogus"}`, `{"v1_topology":"no"}`, `{"discovery_methods":"x"}`,
		`{"auth":"none","client_certificate_pem":"x"}`, `{"jwt_exp_s":"1"}`,
	} {
		if a := postJSON(t, cl.URL()+"/_dev/config", bad); a.status != 400 {
			t.Errorf("config %s: %d, want 400", bad, a.status)
		}
	}
	if a := do(t, "GET", cl.RESTAddress()+"/v1/topology", "", ""); a.status != 401 {
		t.Errorf("a refused document changed the auth mode: %d", a.status)
	}
	// JWKS mode keeps Bearer verification.
	jw := start(t, devcluster.Options{JWKSURL: "http://127.0.0.1:1/jwks"})
	if a := postJSON(t, jw.URL()+"/_dev/config", `{"auth":"none"}`); a.status != 400 {
		t.Errorf("JWKS mode, auth none: %d", a.status)
	}
	if a := do(t, "GET", jw.DiscoveryURL(), "", ""); a.status != 404 {
		t.Errorf("JWKS mode discovery: %d", a.status)
	}
}
