package devcluster

// Client authentication at the token endpoint: client_secret_post and
// client_secret_basic (RFC 6749 §2.3.1), and private_key_jwt (RFC 7523 §2.2,
// OpenID Connect Core §9) verified against a registered client certificate,
// as Entra ID and Keycloak do. Also the key material the cluster hands out
// for private_key_jwt: a key, its self-signed certificate and a PKCS#12
// keystore holding both.

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/zbauth/zbauth/internal/jsonx"
	"software.sslmate.com/src/go-pkcs12"
)

// The token endpoint's client authentication methods.
const (
	MethodSecretPost    = "client_secret_post"
	MethodSecretBasic   = "client_secret_basic"
	MethodPrivateKeyJWT = "private_key_jwt"
)

// Methods lists the client authentication methods, in the order the
// discovery document names them.
var Methods = []string{MethodSecretPost, MethodSecretBasic, MethodPrivateKeyJWT}

// The REST API's authentication modes (Options.Auth).
const (
	AuthOAuth = "oauth"
	AuthBasic = "basic"
	AuthNone  = "none"
)

const (
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// maxAssertionLifetime is the longest exp - iat accepted: Entra ID and
	// Keycloak refuse longer-lived assertions too, and a client that mints
	// one per request has no reason to exceed it.
	maxAssertionLifetime = 5 * time.Minute
	basicChallenge       = `Basic realm="zbauth-dev"`
)

func validMethod(m string) bool {
	for _, x := range Methods {
		if m == x {
			return true
		}
	}
	return false
}

func validAuth(a string) bool { return a == AuthOAuth || a == AuthBasic || a == AuthNone }

// clientAuthFailure is an RFC 6749 §5.2 error answer of the token endpoint.
type clientAuthFailure struct {
	status    int
	code      string
	desc      string
	challenge bool // the client tried the Authorization header: 401 must carry WWW-Authenticate
}

// usedMethods names the client authentication methods a request uses.
func usedMethods(r *http.Request) []string {
	var used []string
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Basic") {
		used = append(used, MethodSecretBasic)
	}
	if r.PostForm.Has("client_secret") {
		used = append(used, MethodSecretPost)
	}
	if r.PostForm.Has("client_assertion") || r.PostForm.Has("client_assertion_type") {
		used = append(used, MethodPrivateKeyJWT)
	}
	return used
}

// authenticateClient checks the client authentication of a token request
// whose form has been parsed, and returns the method used (also when it
// failed, if exactly one was used).
func (c *Cluster) authenticateClient(r *http.Request, s settings) (string, *clientAuthFailure) {
	used := usedMethods(r)
	switch len(used) {
	case 0:
		return "", &clientAuthFailure{status: http.StatusUnauthorized, code: "invalid_client",
			desc: "the request carries no client authentication (client_secret, an Authorization: Basic header or a client_assertion)"}
	case 1:
	default:
		// RFC 6749 §2.3: a client must not use more than one method per
		// request; §5.2 makes that invalid_request.
		return "", &clientAuthFailure{status: http.StatusBadRequest, code: "invalid_request",
			desc: "the request uses more than one client authentication method: " + strings.Join(used, ", ")}
	}
	method := used[0]
	fail := func(desc string) (string, *clientAuthFailure) {
		return method, &clientAuthFailure{status: http.StatusUnauthorized, code: "invalid_client", desc: desc,
			challenge: method == MethodSecretBasic}
	}
	if s.tokenMethod != "" && method != s.tokenMethod {
		return fail("this client must authenticate with " + s.tokenMethod)
	}
	switch method {
	case MethodSecretPost:
		if !c.secretMatches(r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")) {
			return fail("client authentication failed")
		}
	case MethodSecretBasic:
		rawID, rawSecret, ok := r.BasicAuth()
		if !ok {
			return fail("the Authorization header is not Basic base64(client_id:client_secret)")
		}
		id, err1 := url.QueryUnescape(rawID)
		secret, err2 := url.QueryUnescape(rawSecret)
		if err1 != nil || err2 != nil {
			return fail("the Basic credentials are not form-urlencoded before base64 (RFC 6749 §2.3.1)")
		}
		if r.PostForm.Has("client_id") && r.PostForm.Get("client_id") != id {
			return fail("client_id in the body differs from the one in the Authorization header")
		}
		if !c.secretMatches(id, secret) {
			return fail("client authentication failed")
		}
	case MethodPrivateKeyJWT:
		if r.PostForm.Has("client_id") && r.PostForm.Get("client_id") != c.opts.ClientID {
			return fail("client authentication failed")
		}
		if why := c.checkAssertion(r.PostForm, s.cert, time.Now()); why != "" {
			return fail(why)
		}
	}
	return method, nil
}

// secretMatches compares both values in constant time, and both always.
func (c *Cluster) secretMatches(id, secret string) bool {
	idOK := hmac.Equal([]byte(id), []byte(c.opts.ClientID))
	secretOK := hmac.Equal([]byte(secret), []byte(c.opts.ClientSecret))
	return idOK && secretOK
}

// checkAssertion verifies a private_key_jwt client assertion and says which
// check failed, or returns "". The decoded header and claims are recorded
// for /_dev/stats whether or not they pass.
func (c *Cluster) checkAssertion(form url.Values, cert *x509.Certificate, now time.Time) string {
	if t := form.Get("client_assertion_type"); t != assertionType {
		return "client_assertion_type must be " + assertionType
	}
	parts := strings.Split(form.Get("client_assertion"), ".")
	if len(parts) != 3 {
		return "client_assertion is not a signed JWT (three base64url parts)"
	}
	head, claims := decodeSegment(parts[0]), decodeSegment(parts[1])
	c.mu.Lock()
	c.lastAssertionHead, c.lastAssertionClaims = head, claims
	c.mu.Unlock()
	if head == nil || claims == nil {
		return "client_assertion header or claims are not base64url-encoded JSON objects"
	}
	alg, _ := head["alg"].(string)
	switch alg {
	case "RS256", "PS256", "ES256":
	default:
		return fmt.Sprintf("client_assertion alg %q is not accepted (RS256, PS256, ES256)", alg)
	}
	if _, ok := head["crit"]; ok {
		return "client_assertion has critical header parameters this server does not understand"
	}
	if cert == nil {
		return "no client certificate is registered for private_key_jwt"
	}
	if !keyFits(cert.PublicKey, alg) {
		return "client_assertion alg " + alg + " does not fit the registered certificate's key"
	}
	sha1sum, sha256sum := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	for name, want := range map[string][]byte{"x5t": sha1sum[:], "x5t#S256": sha256sum[:]} {
		if v, ok := head[name]; ok {
			if s, _ := v.(string); s != b64.EncodeToString(want) {
				return "client_assertion header " + name + " does not match the registered certificate's thumbprint"
			}
		}
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !verifySignature(cert.PublicKey, alg, []byte(parts[0]+"."+parts[1]), sig) {
		return "client_assertion signature does not verify with the registered certificate's key"
	}
	iss, _ := claims["iss"].(string)
	sub, _ := claims["sub"].(string)
	if iss != c.opts.ClientID {
		return "client_assertion iss is not the client id"
	}
	if sub != c.opts.ClientID {
		return "client_assertion sub is not the client id"
	}
	if !hasAudience(claims["aud"], c.TokenURL()) {
		return "client_assertion aud does not name the token endpoint " + c.TokenURL()
	}
	exp, ok := claims["exp"].(float64)
	if !ok {
		return "client_assertion has no numeric exp"
	}
	nowS := float64(now.Unix())
	if exp <= nowS {
		return "client_assertion has expired (exp)"
	}
	leeway := jwksLeeway.Seconds()
	from := nowS
	if iat, ok := claims["iat"]; ok {
		n, ok := iat.(float64)
		if !ok {
			return "client_assertion iat is not a number"
		}
		if n > nowS+leeway {
			return "client_assertion is issued in the future (iat)"
		}
		from = n
	}
	if exp-from > maxAssertionLifetime.Seconds() {
		return "client_assertion lives longer than 5 minutes (exp - iat)"
	}
	if nbf, ok := claims["nbf"]; ok {
		n, ok := nbf.(float64)
		if !ok {
			return "client_assertion nbf is not a number"
		}
		if n > nowS+leeway {
			return "client_assertion is not valid yet (nbf)"
		}
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		return "client_assertion has no jti"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, until := range c.seenJTI {
		if until <= nowS {
			delete(c.seenJTI, k)
		}
	}
	if _, seen := c.seenJTI[jti]; seen {
		return "client_assertion jti has been used before (replay)"
	}
	c.seenJTI[jti] = exp
	return ""
}

// decodeSegment decodes a JWT segment that must be a JSON object.
func decodeSegment(seg string) map[string]any {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return nil
	}
	var m map[string]any
	if jsonx.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// parseCertPEM reads the first CERTIFICATE block of pemText; its key must
// be RSA or ECDSA, the kinds an assertion can be signed with here.
func parseCertPEM(pemText string) (*x509.Certificate, error) {
	rest := []byte(pemText)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the certificate does not parse: %w", err)
		}
		switch cert.PublicKey.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			return cert, nil
		}
		return nil, errors.New("the certificate's key is neither RSA nor ECDSA")
	}
}

// devKey is generated once per process: starting many clusters in one test
// binary then stays fast, and each cluster still gets its own certificate.
var devKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// keyMaterial is the private_key_jwt material written for a cluster.
type keyMaterial struct {
	dir, keyPath, certPath, p12Path string
	cert                            *x509.Certificate
}

// writeKeyMaterial writes key.pem (PKCS#8), cert.pem (self-signed, CN =
// clientID) and client.p12 (both, encrypted with password) into a new
// private directory.
func writeKeyMaterial(clientID, password string) (*keyMaterial, error) {
	key, err := devKey()
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: clientID},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	p12, err := pkcs12.Modern.Encode(key, cert, nil, password)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "zbauth-dev-keys-")
	if err != nil {
		return nil, err
	}
	m := &keyMaterial{dir: dir, keyPath: filepath.Join(dir, "key.pem"), certPath: filepath.Join(dir, "cert.pem"),
		p12Path: filepath.Join(dir, "client.p12"), cert: cert}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{m.keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})},
		{m.certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
		{m.p12Path, p12},
	} {
		if err = os.WriteFile(f.path, f.data, 0o600); err != nil {
			break
		}
	}
	if err == nil {
		err = os.Chmod(dir, 0o700)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return m, nil
}
