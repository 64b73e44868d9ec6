package core_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
)

// testPKI is a throwaway CA with a server and a client certificate.
type testPKI struct {
	caPEM               []byte
	server              tls.Certificate
	clientCert, clientK []byte
	pool                *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zbauth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, server bool) ([]byte, []byte) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "zbauth test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	p := &testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	sc, sk := issue(2, true)
	if p.server, err = tls.X509KeyPair(sc, sk); err != nil {
		t.Fatal(err)
	}
	p.clientCert, p.clientK = issue(3, false)
	return p
}

// tlsCluster serves a token endpoint and topology over TLS with the test
// PKI, optionally requiring a client certificate.
func tlsCluster(t *testing.T, p *testPKI, requireClientCert bool) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"tls-token","token_type":"Bearer","expires_in":300}`)
	})
	mux.HandleFunc("/v1/topology", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tls-token" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, `{"brokers":[],"clusterSize":1,"partitionsCount":1,"replicationFactor":1,"gatewayVersion":"tls"}`)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}}
	if requireClientCert {
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		srv.TLS.ClientCAs = p.pool
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func tlsConfig(srv *httptest.Server) core.Config {
	return core.Config{ClientID: "id", ClientSecret: "SECRET-MARKER-tls", AuthorizationServerURL: srv.URL + "/oauth/token", RESTAddress: srv.URL}
}

var withoutEnv = core.WithLookupEnv(func(string) (string, bool) { return "", false })

func TestCustomCA(t *testing.T) {
	p := newTestPKI(t)
	srv := tlsCluster(t, p, false)
	dir := t.TempDir()

	// Without the CA the server is not trusted.
	c, err := core.New(tlsConfig(srv), withoutEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Topology(context.Background())
	if core.KindOf(err) != core.KindTransport || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: want a TRANSPORT certificate error, got %v", err)
	}

	cfg := tlsConfig(srv)
	cfg.CACertificatePath = writeFile(t, dir, "ca.pem", p.caPEM)
	c2, err := core.New(cfg, withoutEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	topo, err := c2.Topology(context.Background())
	if err != nil || topo.GatewayVersion != "tls" {
		t.Fatalf("with the CA: %v %+v", err, topo)
	}

	// The CA path also comes from the environment.
	env := core.WithLookupEnv(func(k string) (string, bool) {
		if k == core.EnvCACertificatePath {
			return cfg.CACertificatePath, true
		}
		return "", false
	})
	c3, err := core.New(tlsConfig(srv), env)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err := c3.Token(context.Background()); err != nil {
		t.Fatalf("CA from %s: %v", core.EnvCACertificatePath, err)
	}

	// A file that is not PEM is a config error naming the field.
	cfg.CACertificatePath = writeFile(t, dir, "junk.pem", []byte("not a certificate"))
	_, err = core.New(cfg, withoutEnv)
	if core.KindOf(err) != core.KindConfig || !strings.Contains(err.Error(), "ca_certificate_path") {
		t.Fatalf("junk CA file: %v", err)
	}
}

func TestMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	srv := tlsCluster(t, p, true)
	dir := t.TempDir()
	cfg := tlsConfig(srv)
	cfg.CACertificatePath = writeFile(t, dir, "ca.pem", p.caPEM)

	c, err := core.New(cfg, withoutEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Token(context.Background()); core.KindOf(err) != core.KindTransport {
		t.Fatalf("without a client certificate: want TRANSPORT, got %v", err)
	}

	cfg.ClientCertificatePath = writeFile(t, dir, "client.pem", p.clientCert)
	cfg.ClientKeyPath = writeFile(t, dir, "client.key", p.clientK)
	c2, err := core.New(cfg, withoutEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Topology(context.Background()); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}

	// Certificate without key is a config error.
	cfg.ClientKeyPath = ""
	if _, err := core.New(cfg, withoutEnv); core.KindOf(err) != core.KindConfig {
		t.Fatalf("certificate without key: %v", err)
	}
}
