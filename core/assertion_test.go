package core_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"software.sslmate.com/src/go-pkcs12"
)

// credentials is a key and self-signed certificate written to a test
// directory in the forms users have them.
type credentials struct {
	key  crypto.Signer
	cert *x509.Certificate
	dir  string
}

func newCredentials(t *testing.T, key crypto.Signer) *credentials {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zbauth-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &credentials{key: key, cert: cert, dir: t.TempDir()}
}

func (c *credentials) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *credentials) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

func (c *credentials) pkcs8PEM(t *testing.T) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// verifyAssertion checks a client assertion as a token endpoint does
// (RFC 7523 §3) and returns its header and claims.
func verifyAssertion(t *testing.T, jwt string, pub crypto.PublicKey, clientID, aud string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jwt)
	}
	var head, claims map[string]any
	for i, v := range []*map[string]any{&head, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("part %d is not base64url JSON: %q", i, parts[i])
		}
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	msg := []byte(parts[0] + "." + parts[1])
	var ok bool
	switch alg := head["alg"]; alg {
	case "RS256":
		d := sha256.Sum256(msg)
		ok = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig) == nil
	case "PS256":
		d := sha256.Sum256(msg)
		ok = rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case "ES256", "ES384":
		var d []byte
		if alg == "ES256" {
			s := sha256.Sum256(msg)
			d = s[:]
		} else {
			s := sha512.Sum384(msg)
			d = s[:]
		}
		n := len(sig) / 2
		ok = ecdsa.Verify(pub.(*ecdsa.PublicKey), d, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
	default:
		t.Fatalf("alg %v", alg)
	}
	if !ok {
		t.Fatalf("signature does not verify (%v)", head["alg"])
	}
	iat, exp := claims["iat"].(float64), claims["exp"].(float64)
	if claims["iss"] != clientID || claims["sub"] != clientID || claims["aud"] != aud || claims["nbf"] != iat ||
		exp <= iat || exp-iat > 300 || claims["jti"] == "" || head["typ"] != "JWT" {
		t.Fatalf("claims %v header %v", claims, head)
	}
	return head, claims
}

func assertionConfig(extra core.Config) core.Config {
	extra.ClientID = "zbauth-test"
	extra.TokenAuthMethod = core.MethodPrivateKeyJWT
	return extra
}

const testAud = "https://login.example/tenant/oauth2/v2.0/token"

func TestAssertionKeyKinds(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		alg  string
		pem  func(c *credentials) []byte
	}{
		{"RSA PKCS#8", rsaKey, "RS256", func(c *credentials) []byte { return c.pkcs8PEM(t) }},
		{"RSA PKCS#1", rsaKey, "RS256", func(c *credentials) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
		}},
		{"EC P-256 SEC 1", p256, "ES256", func(c *credentials) []byte {
			der, _ := x509.MarshalECPrivateKey(p256)
			return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		}},
		{"EC P-384 PKCS#8", p384, "ES384", func(c *credentials) []byte { return c.pkcs8PEM(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCredentials(t, tt.key)
			jwt, err := core.SignAssertion(assertionConfig(core.Config{
				ClientAssertionKeyPath:  c.write(t, "key.pem", tt.pem(c)),
				ClientAssertionCertPath: c.write(t, "cert.pem", c.certPEM()),
			}), testAud, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			head, _ := verifyAssertion(t, jwt, tt.key.Public(), "zbauth-test", testAud)
			s1, s256 := sha1.Sum(c.cert.Raw), sha256.Sum256(c.cert.Raw)
			if head["alg"] != tt.alg || head["x5t"] != base64.RawURLEncoding.EncodeToString(s1[:]) ||
				head["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) {
				t.Errorf("header %v", head)
			}
		})
	}
}

func TestAssertionsAreFresh(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := newCredentials(t, key)
	// The key file may carry its certificate too.
	cfg := assertionConfig(core.Config{ClientAssertionKeyPath: c.write(t, "both.pem", append(c.pkcs8PEM(t), c.certPEM()...))})
	now := time.Now()
	a, err := core.SignAssertion(cfg, testAud, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := core.SignAssertion(cfg, testAud, now)
	ha, ca := verifyAssertion(t, a, key.Public(), "zbauth-test", testAud)
	_, cb := verifyAssertion(t, b, key.Public(), "zbauth-test", testAud)
	if ca["jti"] == cb["jti"] {
		t.Error("two assertions share a jti")
	}
	if ha["x5t"] == nil {
		t.Error("the certificate in the key file was not used")
	}
	// Without a certificate there is no thumbprint to send.
	c2 := newCredentials(t, key)
	a, err = core.SignAssertion(assertionConfig(core.Config{ClientAssertionKeyPath: c2.write(t, "key.pem", c2.pkcs8PEM(t))}), testAud, now)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := verifyAssertion(t, a, key.Public(), "zbauth-test", testAud); h["x5t"] != nil {
		t.Errorf("x5t without a certificate: %v", h)
	}
}

func TestAssertionKeyErrors(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := newCredentials(t, rsaKey)
	stranger := newCredentials(t, other)
	key := c.write(t, "key.pem", c.pkcs8PEM(t))
	encrypted := c.write(t, "enc.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
	notKey := c.write(t, "passwd", []byte("root:x:0:0:root:/root:/bin/bash\n"))
	for _, tt := range []struct {
		name  string
		cfg   core.Config
		field string
		words string
	}{
		{"missing file", core.Config{ClientAssertionKeyPath: filepath.Join(c.dir, "nope.pem")}, "client_assertion_key_path", "cannot be read"},
		{"a directory", core.Config{ClientAssertionKeyPath: c.dir}, "client_assertion_key_path", "regular file"},
		{"a FIFO", core.Config{ClientAssertionKeyPath: fifo(t, c.dir)}, "client_assertion_key_path", "regular file"},
		{"/dev/zero", core.Config{ClientAssertionKeyPath: "/dev/zero"}, "client_assertion_key_path", "regular file"},
		{"not a key", core.Config{ClientAssertionKeyPath: notKey}, "client_assertion_key_path", "no PEM private key"},
		{"encrypted PEM", core.Config{ClientAssertionKeyPath: encrypted}, "client_assertion_key_path", "PKCS#12"},
		{"certificate of another key", core.Config{ClientAssertionKeyPath: key,
			ClientAssertionCertPath: stranger.write(t, "cert.pem", stranger.certPEM())}, "client_assertion_cert_path", "another key"},
		{"certificate file without one", core.Config{ClientAssertionKeyPath: key, ClientAssertionCertPath: notKey},
			"client_assertion_cert_path", "no PEM certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := core.SignAssertion(assertionConfig(tt.cfg), testAud, time.Now())
			var e *core.Error
			if !errors.As(err, &e) || e.Kind != core.KindConfig || !slices.Contains(e.Fields, tt.field) || !strings.Contains(e.Msg, tt.words) {
				t.Fatalf("err = %v, want KindConfig on %s saying %q", err, tt.field, tt.words)
			}
			if strings.Contains(err.Error(), "root:x") {
				t.Errorf("the file's content is echoed: %v", err)
			}
		})
	}
}

// PKCS#12 keystores as Go (modern and legacy encryption), OpenSSL 3 and
// Java's keytool write them all load; a wrong password is a config error
// that does not echo it.
func TestAssertionKeystores(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	c := newCredentials(t, rsaKey)
	const password = "SECRET-MARKER-store-7c1d"
	stores := map[string]string{}
	for name, enc := range map[string]*pkcs12.Encoder{"go-modern": pkcs12.Modern, "go-legacy": pkcs12.LegacyRC2} {
		data, err := enc.Encode(rsaKey, c.cert, nil, password)
		if err != nil {
			t.Fatal(err)
		}
		stores[name] = c.write(t, name+".p12", data)
	}
	keyPath := c.write(t, "key.pem", c.pkcs8PEM(t))
	certPath := c.write(t, "cert.pem", c.certPEM())
	if openssl, err := exec.LookPath("openssl"); err == nil {
		p := filepath.Join(c.dir, "openssl.p12")
		out, err := exec.Command(openssl, "pkcs12", "-export", "-inkey", keyPath, "-in", certPath, "-out", p,
			"-passout", "pass:"+password, "-name", "zbauth").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl pkcs12 -export: %v\n%s", err, out)
		}
		stores["openssl"] = p
		if keytool, err := exec.LookPath("keytool"); err == nil {
			// keytool converts OpenSSL's file into its own PKCS#12 form.
			k := filepath.Join(c.dir, "keytool.p12")
			out, err := exec.Command(keytool, "-importkeystore", "-srckeystore", p, "-srcstoretype", "PKCS12",
				"-srcstorepass", password, "-destkeystore", k, "-deststoretype", "PKCS12", "-deststorepass", password,
				"-noprompt").CombinedOutput()
			if err != nil {
				t.Fatalf("keytool -importkeystore: %v\n%s", err, out)
			}
			stores["keytool"] = k
		}
	}
	for _, want := range []string{"openssl", "keytool"} {
		if _, ok := stores[want]; !ok && os.Getenv("CI") != "" {
			t.Errorf("%s is not installed: the Makefile installs it on CI", want)
		}
	}
	for name, path := range stores {
		t.Run(name, func(t *testing.T) {
			cfg := assertionConfig(core.Config{ClientAssertionKeystorePath: path, ClientAssertionKeystorePassword: password})
			jwt, err := core.SignAssertion(cfg, testAud, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if h, _ := verifyAssertion(t, jwt, rsaKey.Public(), "zbauth-test", testAud); h["x5t"] == nil {
				t.Errorf("no thumbprint from the keystore's certificate: %v", h)
			}
			cfg.ClientAssertionKeystorePassword = "SECRET-MARKER-wrong-9e0f"
			_, err = core.SignAssertion(cfg, testAud, time.Now())
			var e *core.Error
			if !errors.As(err, &e) || e.Kind != core.KindConfig || !slices.Contains(e.Fields, "client_assertion_keystore_password") {
				t.Fatalf("wrong password: %v", err)
			}
			if strings.Contains(err.Error(), "MARKER") {
				t.Errorf("the password is echoed: %v", err)
			}
		})
	}
}

func TestJWTExpiry(t *testing.T) {
	jwt := func(claims string) string {
		return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
	}
	for _, tt := range []struct {
		tok  string
		want int64
		ok   bool
	}{
		{jwt(`{"exp":1700000000}`), 1700000000, true},
		{jwt(`{"exp":1700000000.9}`), 1700000000, true},
		{jwt(`{"sub":"x"}`), 0, false},
		{jwt(`{"exp":"soon"}`), 0, false},
		{jwt(`{"exp":-5}`), 0, false},
		{jwt(`[1,2]`), 0, false},
		{"opaque-token", 0, false},
		{"a.b.c.d.e", 0, false},
		{"..", 0, false},
	} {
		exp, ok := core.JWTExpiry(tt.tok)
		if ok != tt.ok || (ok && exp.Unix() != tt.want) {
			t.Errorf("JWTExpiry(%q) = %v, %v; want %d, %v", tt.tok, exp.Unix(), ok, tt.want, tt.ok)
		}
	}
}

func TestEffectiveLifetime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok := func(exp time.Time) string {
		return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":`+
			big.NewInt(exp.Unix()).String()+`}`)) + ".sig"
	}
	for _, tt := range []struct {
		name      string
		token     string
		expiresIn time.Duration
		date      string
		want      time.Duration
		err       bool
	}{
		{"exp before expires_in wins", tok(now.Add(20 * time.Second)), time.Hour, "", 20 * time.Second, false},
		{"expires_in before exp wins", tok(now.Add(time.Hour)), 5 * time.Minute, "", 5 * time.Minute, false},
		{"exp without expires_in", tok(now.Add(time.Minute)), 0, "", time.Minute, false},
		// The endpoint's clock is 10 minutes behind ours: its Date counts,
		// less the second its truncation may hide.
		{"read against the Date header", tok(now.Add(-9 * time.Minute)), time.Hour,
			now.Add(-10 * time.Minute).UTC().Format(time.RFC1123), time.Minute - time.Second, false},
		{"already expired", tok(now.Add(-time.Second)), time.Hour, "", 0, true},
		{"opaque token keeps expires_in", "opaque", time.Hour, "", time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := core.EffectiveLifetime(tt.token, tt.expiresIn, strings.Replace(tt.date, "UTC", "GMT", 1), now)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("= %v, %v; want %v, error %v", got, err, tt.want, tt.err)
			}
			if err != nil && core.KindOf(err) != core.KindAuth {
				t.Errorf("kind %v", core.KindOf(err))
			}
		})
	}
}

// An RSA-PSS key (OpenSSL's genpkey -algorithm RSA-PSS), which Go's PKCS#8
// parser does not read, signs PS256.
func TestAssertionRSAPSSKey(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not installed: the Makefile installs it on CI")
		}
		t.Skip("no openssl")
	}
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "pss.pem")
	if out, err := exec.Command(openssl, "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", keyPath).CombinedOutput(); err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	pubOut, err := exec.Command(openssl, "pkey", "-in", keyPath, "-pubout", "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	// The public key, read as plain RSA to verify with.
	var spki struct {
		Algo struct{ Algorithm asn1.ObjectIdentifier }
		Key  asn1.BitString
	}
	if _, err := asn1.Unmarshal(pubOut, &spki); err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKCS1PublicKey(spki.Key.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := core.SignAssertion(assertionConfig(core.Config{ClientAssertionKeyPath: keyPath}), testAud, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := verifyAssertion(t, jwt, pub, "zbauth-test", testAud); h["alg"] != "PS256" {
		t.Errorf("alg %v, want PS256", h["alg"])
	}
}

// fifo makes a named pipe nobody writes to: opening it for reading would
// block.
func fifo(t *testing.T, dir string) string {
	p := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A keystore with two key entries, as keytool -genkeypair writes them: the
// alias picks one (case-insensitively, as Java does); without an alias, or
// with an unknown one, it is a configuration error.
func TestAssertionKeystoreAlias(t *testing.T) {
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("keytool is not installed: CI machines have a JDK")
		}
		t.Skip("no keytool")
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "two.p12")
	const pw = "SECRET-MARKER-alias-store"
	for _, alias := range []string{"first", "second"} {
		out, err := exec.Command(keytool, "-genkeypair", "-alias", alias, "-keyalg", "EC", "-groupname", "secp256r1",
			"-dname", "CN="+alias, "-validity", "2", "-storetype", "PKCS12", "-keystore", store,
			"-storepass", pw, "-noprompt").CombinedOutput()
		if err != nil {
			t.Fatalf("keytool -genkeypair: %v\n%s", err, out)
		}
	}
	der, err := exec.Command(keytool, "-exportcert", "-alias", "second", "-keystore", store, "-storepass", pw).Output()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	cfg := assertionConfig(core.Config{ClientAssertionKeystorePath: store, ClientAssertionKeystorePassword: pw,
		ClientAssertionKeystoreKeyAlias: "SECOND"})
	jwt, err := core.SignAssertion(cfg, testAud, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s256 := sha256.Sum256(cert.Raw)
	if h, _ := verifyAssertion(t, jwt, cert.PublicKey, "zbauth-test", testAud); h["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) {
		t.Errorf("header %v: not the second entry's certificate", h)
	}
	for alias, field := range map[string]string{"": "client_assertion_keystore_path", "third": "client_assertion_keystore_key_alias"} {
		cfg.ClientAssertionKeystoreKeyAlias = alias
		_, err := core.SignAssertion(cfg, testAud, time.Now())
		var e *core.Error
		if !errors.As(err, &e) || e.Kind != core.KindConfig || !slices.Contains(e.Fields, field) || strings.Contains(err.Error(), "MARKER") {
			t.Errorf("alias %q: %v, want a config error on %s", alias, err, field)
		}
	}
}
