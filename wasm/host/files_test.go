package host

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
	"software.sslmate.com/src/go-pkcs12"
)

// credentials are a client key, its self-signed certificate and a PKCS#12
// keystore of both, written to dir.
type credentials struct {
	key, cert, keystore string
}

func writeCredentials(t testing.TB, dir, keystorePassword string) credentials {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zbauth-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p12, err := pkcs12.Modern.Encode(key, cert, nil, keystorePassword)
	if err != nil {
		t.Fatal(err)
	}
	c := credentials{key: filepath.Join(dir, "client.key.pem"), cert: filepath.Join(dir, "client.cert.pem"), keystore: filepath.Join(dir, "client.p12")}
	for path, data := range map[string][]byte{
		c.key:      pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		c.cert:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		c.keystore: p12,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// guestFile runs zbtest_file: op 1 read, 2 write, 3 list, 4 create.
func guestFile(c *Client, op int32, path string) ([]byte, error) {
	var out []byte
	err := c.invoke(context.Background(), "file", func(in *instance, h, call, ms int32) error {
		return in.withArgs([][]byte{[]byte(path)}, func(ptrs []uint32) error {
			return in.drive(in.mod.ExportedFunction("zbtest_file"), api.EncodeI32(call), api.EncodeI32(op),
				api.EncodeU32(ptrs[0]), api.EncodeI32(int32(len(path))))
		})
	}, func(status int32, payload []byte) error {
		if status != 0 {
			e, _ := decodeError("file", status, payload)
			return e
		}
		out = append([]byte(nil), payload...)
		return nil
	})
	return out, err
}

// jwtConfig is a private_key_jwt client of tokenURL naming the given
// credential settings.
func jwtConfig(tokenURL string, extra map[string]any) []byte {
	m := map[string]any{"client_id": "id", "authorization_server_url": tokenURL, "rest_address": "http://127.0.0.1:1",
		"token_auth_method": "private_key_jwt"}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// TestGuestFiles: the guest reads exactly the credential files that its
// clients' configurations name, while a client naming them is open, and
// nothing else: not a file next to them, not a directory listing, not a
// system file; and it writes and creates nothing.
func TestGuestFiles(t *testing.T) {
	dir := t.TempDir()
	cred := writeCredentials(t, dir, "pw")
	other := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(other, []byte("not for the guest"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := load(t, testModule)
	tokenURL := markerTokenURL(t)

	// A client that names none: nothing is readable, the file system is empty.
	plain := newClient(t, p, cfgJSON("s", tokenURL, "http://127.0.0.1:1", nil))
	for _, path := range []string{cred.key, other, "/etc/passwd", "/", dir} {
		if b, err := guestFile(plain, 1, path); err == nil {
			t.Errorf("the guest read %s (%d bytes) with no credential configured", path, len(b))
		}
	}

	c := newClient(t, p, jwtConfig(tokenURL, map[string]any{"client_assertion_key_path": cred.key, "client_assertion_cert_path": cred.cert}))
	want, _ := os.ReadFile(cred.key)
	for _, path := range []string{cred.key, filepath.Join(dir, ".", "sub", "..", "client.key.pem")} {
		got, err := guestFile(c, 1, path)
		if err != nil || string(got) != string(want) {
			t.Fatalf("reading the configured key %s in the guest: %v (%d bytes, want %d)", path, err, len(got), len(want))
		}
	}
	if _, err := guestFile(c, 1, cred.cert); err != nil {
		t.Errorf("reading the configured certificate: %v", err)
	}
	for _, path := range []string{other, cred.keystore, "/etc/passwd", "/etc/hostname", dir + "/", "/", "."} {
		if b, err := guestFile(c, 1, path); err == nil {
			t.Errorf("the guest read %s (%d bytes), which no configuration names", path, len(b))
		} else if path == other && !strings.Contains(strings.ToLower(err.Error()), "permission denied") {
			t.Errorf("reading %s: %v, want a permission error", path, err)
		}
	}
	for _, path := range []string{dir, "/", "/etc"} {
		if names, err := guestFile(c, 3, path); err == nil {
			t.Errorf("the guest listed %s: %q", path, names)
		}
	}
	if _, err := guestFile(c, 2, cred.key); err == nil {
		t.Error("the guest wrote to the key file")
	}
	if _, err := guestFile(c, 4, filepath.Join(dir, "new")); err == nil {
		t.Error("the guest created a file")
	}
	if got, _ := os.ReadFile(cred.key); string(got) != string(want) {
		t.Error("the key file changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Error("a file appeared on the host")
	}

	// A relative path means the same file to host and guest: the host's
	// working directory.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, cred.keystore)
	if err != nil || filepath.IsAbs(rel) {
		t.Fatalf("no relative path to %s from %s", cred.keystore, wd)
	}
	ks := newClient(t, p, jwtConfig(tokenURL, map[string]any{"client_assertion_keystore_path": rel, "client_assertion_keystore_password": "pw"}))
	if _, err := guestFile(ks, 1, rel); err != nil {
		t.Errorf("reading the keystore by its relative path %s: %v", rel, err)
	}
	if _, err := ks.Token(context.Background()); err != nil {
		t.Errorf("token with the keystore at %s: %v", rel, err)
	}

	// Closing the client takes its files away; another naming the same
	// file keeps it readable until it closes too.
	twin := newClient(t, p, jwtConfig(tokenURL, map[string]any{"client_assertion_key_path": cred.key}))
	c.Close()
	if _, err := guestFile(plain, 1, cred.key); err != nil {
		t.Errorf("a second client names the key, yet it is gone: %v", err)
	}
	if _, err := guestFile(plain, 1, cred.cert); err == nil {
		t.Error("the certificate is still readable after the only client naming it closed")
	}
	twin.Close()
	ks.Close()
	for _, path := range []string{cred.key, rel} {
		if _, err := guestFile(plain, 1, path); err == nil {
			t.Errorf("%s is still readable after every client naming it closed", path)
		}
	}
	if n := p.files.granted(); n != 0 {
		t.Errorf("%d paths left granted", n)
	}
}

// TestGuestFileNotAKey: a configuration may name any file as the key; the
// guest reads it and the core refuses it, with the native core's error,
// without quoting the file.
func TestGuestFileNotAKey(t *testing.T) {
	p := load(t, prodModule)
	for _, path := range []string{"/etc/passwd", "/etc"} {
		cfg := jwtConfig(markerTokenURL(t), map[string]any{"client_assertion_key_path": path})
		_, err := p.NewClient(context.Background(), cfg)
		e := asCoreError(t, err)
		if e.Kind != core.KindConfig || !slices.Contains(e.Fields, "client_assertion_key_path") {
			t.Fatalf("%s: want a CONFIG error naming client_assertion_key_path, got %v", path, err)
		}
		if strings.Contains(err.Error(), "root") {
			t.Errorf("%s: the error quotes the file: %v", path, err)
		}
		parsed, _ := core.ParseConfigJSON(cfg)
		_, nerr := core.New(parsed, core.WithLookupEnv(func(string) (string, bool) { return "", false }))
		if nerr == nil || nerr.Error() != err.Error() {
			t.Errorf("%s: plugin %q, native %v", path, err, nerr)
		}
		t.Logf("%s: %v", path, err)
	}
	if n := p.files.granted(); n != 0 {
		t.Errorf("%d paths left granted after refused clients", n)
	}
}

// granted counts the paths the guest may read now.
func (f *credentialFS) granted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.paths)
}

// TestPrivateKeyJWT: the dev cluster's generated client key, as a PEM key
// and certificate and as its PKCS#12 keystore, from the config JSON or the
// guest's environment, signs the assertions of a topology call through the
// plugin (the cluster accepts nothing else at its token endpoint).
func TestPrivateKeyJWT(t *testing.T) {
	cl := cluster(t, devcluster.Options{Addr: "127.0.0.1:0", TokenAuthMethod: core.MethodPrivateKeyJWT})
	o := cl.Options()
	base := map[string]any{"client_id": o.ClientID, "authorization_server_url": cl.TokenURL(), "rest_address": cl.RESTAddress()}
	pemCred := map[string]string{"client_assertion_key_path": cl.AssertionKeyPath(), "client_assertion_cert_path": cl.AssertionCertPath()}
	p12 := map[string]string{"client_assertion_keystore_path": cl.AssertionKeystorePath(), "client_assertion_keystore_password": cl.AssertionKeystorePassword()}
	for _, tc := range []struct {
		name string
		cred map[string]string
	}{{"PEM", pemCred}, {"PKCS#12", p12}} {
		for _, from := range []string{"config", "env"} {
			t.Run(tc.name+"/"+from, func(t *testing.T) {
				cfg := maps.Clone(base)
				env := map[string]string{}
				for k, v := range tc.cred {
					if from == "config" {
						cfg[k] = v
					} else {
						env[core.EnvNames[k][0]] = v
					}
				}
				p := load(t, prodModule, WithEnv(env))
				b, _ := json.Marshal(cfg)
				c := newClient(t, p, b)
				topo, err := c.Topology(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				st := cl.Stats()
				if len(topo.Brokers) != 3 || st.LastClientAuth != core.MethodPrivateKeyJWT || st.LastAssertionHeader["x5t"] == nil {
					t.Fatalf("%d brokers, last client auth %q, assertion header %v", len(topo.Brokers), st.LastClientAuth, st.LastAssertionHeader)
				}
			})
		}
	}
}
