package devcluster

// JWKS mode: the dev cluster stands in for the REST side only, while a real
// identity provider (Keycloak, an OAuth2 test server, ...) issues the
// tokens. Bearer tokens are then verified as a resource server would: the
// signature against the issuer's JSON Web Key Set (RFC 7517), fetched over
// HTTP, cached and fetched again for an unknown key id; then `exp`, `nbf`,
// `aud` (a string or an array that must contain the accepted audience) and,
// when configured, `iss`. Standard library only.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zbauth/zbauth/internal/jsonx"
)

// jwksLeeway is the clock skew allowed for `nbf` and `iat`. `exp` is strict,
// as in the default mode: a client must not use a token past its expiry.
const jwksLeeway = 5 * time.Second

// maxJWKSBody caps a JWKS or discovery document.
const maxJWKSBody = 1 << 20

// jwksVerifier verifies tokens of one external issuer.
type jwksVerifier struct {
	jwksURL  string
	issuer   string // "" accepts any iss
	audience string
	client   *http.Client
	// minRefetch is the least time between two fetches of the key set, so
	// that tokens with made-up key ids cannot make the cluster hammer the
	// identity provider.
	minRefetch time.Duration
	now        func() time.Time

	revokedBefore atomic.Int64 // unix seconds: tokens issued up to then are revoked

	mu      sync.Mutex
	keys    []jwk
	fetched time.Time // zero: never fetched successfully
	tried   time.Time // last attempt, successful or not
}

// jwk is one usable verification key of the set.
type jwk struct {
	kid string
	alg string // "" when the set does not say
	key crypto.PublicKey
}

func newJWKSVerifier(jwksURL, issuer, audience string) (*jwksVerifier, error) {
	if err := checkFetchURL(jwksURL); err != nil {
		return nil, fmt.Errorf("devcluster: JWKS URL: %w", err)
	}
	return &jwksVerifier{
		jwksURL:    jwksURL,
		issuer:     issuer,
		audience:   audience,
		client:     &http.Client{Timeout: 5 * time.Second},
		minRefetch: time.Second,
		now:        time.Now,
	}, nil
}

// checkFetchURL accepts https:// anywhere and http:// to loopback only.
func checkFetchURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("plain http:// is only allowed to a loopback host; use https://")
	}
	return errors.New("must be an http:// or https:// URL")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// discover reads issuer's OpenID Connect discovery document and returns its
// jwks_uri and token_endpoint. The document must name the same issuer
// (OpenID Connect Discovery 1.0 §4.3).
func discover(ctx context.Context, client *http.Client, issuer string) (jwksURI, tokenEndpoint string, err error) {
	if err := checkFetchURL(issuer); err != nil {
		return "", "", fmt.Errorf("devcluster: issuer: %w", err)
	}
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, err := fetch(ctx, client, u)
	if err != nil {
		return "", "", fmt.Errorf("devcluster: OpenID discovery: %w", err)
	}
	var doc struct {
		Issuer        string `json:"issuer"`
		JWKSURI       string `json:"jwks_uri"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := jsonx.Unmarshal(body, &doc); err != nil {
		return "", "", fmt.Errorf("devcluster: OpenID discovery: %s is not JSON", u)
	}
	if doc.Issuer != issuer {
		return "", "", fmt.Errorf("devcluster: OpenID discovery: the document names issuer %q, not %q", doc.Issuer, issuer)
	}
	if doc.JWKSURI == "" {
		return "", "", errors.New("devcluster: OpenID discovery: the document has no jwks_uri")
	}
	return doc.JWKSURI, doc.TokenEndpoint, nil
}

func fetch(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBody {
		return nil, fmt.Errorf("GET %s: the answer exceeds %d bytes", u, maxJWKSBody)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return body, nil
}

// refresh fetches the key set. It is called with v.mu held.
func (v *jwksVerifier) refresh() error {
	v.tried = v.now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body, err := fetch(ctx, v.client, v.jwksURL)
	if err == nil {
		var keys []jwk
		if keys, err = parseJWKS(body); err == nil {
			v.keys, v.fetched = keys, v.tried
		}
	}
	return err
}

// key returns the key for kid (any key when kid is "" and the set has
// exactly one usable for alg), fetching the set when it has not been
// fetched yet or does not hold kid.
func (v *jwksVerifier) key(kid, alg string) (crypto.PublicKey, string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.lookup(kid, alg); ok {
		return k, ""
	}
	if v.fetched.IsZero() || v.now().Sub(v.tried) >= v.minRefetch {
		if err := v.refresh(); err != nil && v.fetched.IsZero() {
			return nil, "cannot fetch the issuer's JWKS: " + err.Error()
		}
		if k, ok := v.lookup(kid, alg); ok {
			return k, ""
		}
	}
	if kid == "" {
		return nil, "token has no kid and the JWKS has no single key for " + alg
	}
	return nil, "token is signed with a key (kid " + kid + ", " + alg + ") that is not in the issuer's JWKS"
}

func (v *jwksVerifier) lookup(kid, alg string) (crypto.PublicKey, bool) {
	var found crypto.PublicKey
	n := 0
	for _, k := range v.keys {
		if (kid == "" || k.kid == kid) && (k.alg == "" || k.alg == alg) && keyFits(k.key, alg) {
			found = k.key
			n++
		}
	}
	if kid != "" {
		return found, n > 0
	}
	return found, n == 1
}

// parseJWKS keeps the set's signature keys (RSA and EC P-256/384/521) and
// skips the others (encryption keys, symmetric and unknown key types).
func parseJWKS(body []byte) ([]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := jsonx.Unmarshal(body, &set); err != nil {
		return nil, errors.New("the JWKS is not JSON")
	}
	if set.Keys == nil {
		return nil, errors.New(`the JWKS has no "keys" array`)
	}
	var keys []jwk
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub crypto.PublicKey
		switch k.Kty {
		case "RSA":
			n, err1 := b64.DecodeString(k.N)
			e, err2 := b64.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				continue
			}
			pk := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			if pk.N.BitLen() < 2048 || pk.E < 3 || pk.E%2 == 0 {
				continue
			}
			pub = pk
		case "EC":
			curve, size := curveOf(k.Crv)
			x, err1 := b64.DecodeString(k.X)
			y, err2 := b64.DecodeString(k.Y)
			if curve == nil || err1 != nil || err2 != nil || len(x) != size || len(y) != size {
				continue
			}
			pk, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
			if err != nil {
				continue
			}
			pub = pk
		default:
			continue
		}
		keys = append(keys, jwk{kid: k.Kid, alg: k.Alg, key: pub})
	}
	return keys, nil
}

func curveOf(crv string) (elliptic.Curve, int) {
	switch crv {
	case "P-256":
		return elliptic.P256(), 32
	case "P-384":
		return elliptic.P384(), 48
	case "P-521":
		return elliptic.P521(), 66
	}
	return nil, 0
}

// algHash maps the supported JWS algorithms to their hash.
func algHash(alg string) (crypto.Hash, func() hash.Hash, bool) {
	switch alg {
	case "RS256", "ES256", "PS256":
		return crypto.SHA256, sha256.New, true
	case "RS384", "ES384", "PS384":
		return crypto.SHA384, sha512.New384, true
	case "RS512", "ES512", "PS512":
		return crypto.SHA512, sha512.New, true
	}
	return 0, nil, false
}

// keyFits reports whether key can verify alg.
func keyFits(key crypto.PublicKey, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		want, _ := curveOf(map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg])
		return want != nil && k.Curve == want
	}
	return false
}

func verifySignature(key crypto.PublicKey, alg string, signed, sig []byte) bool {
	h, newHash, ok := algHash(alg)
	if !ok {
		return false
	}
	d := newHash()
	d.Write(signed)
	digest := d.Sum(nil)
	switch k := key.(type) {
	case *rsa.PublicKey:
		if strings.HasPrefix(alg, "PS") {
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
	case *ecdsa.PublicKey:
		// JWS carries R || S, each the curve's size (RFC 7518 §3.4).
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}

// verify checks a bearer token and explains what is wrong, or returns "".
func (v *jwksVerifier) verify(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "token is not a JWT"
	}
	rawHead, err := b64.DecodeString(parts[0])
	if err != nil {
		return "token is not a JWT"
	}
	var head struct {
		Alg  string   `json:"alg"`
		Kid  string   `json:"kid"`
		Crit []string `json:"crit"`
	}
	if jsonx.Unmarshal(rawHead, &head) != nil {
		return "token is not a JWT"
	}
	if _, _, ok := algHash(head.Alg); !ok {
		return "token algorithm " + fmt.Sprintf("%q", head.Alg) + " is not accepted (RS256/384/512, PS256/384/512, ES256/384/512)"
	}
	if len(head.Crit) > 0 {
		return "token has critical header parameters this verifier does not understand"
	}
	key, why := v.key(head.Kid, head.Alg)
	if why != "" {
		return why
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !verifySignature(key, head.Alg, []byte(parts[0]+"."+parts[1]), sig) {
		return "token signature is invalid"
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return "token is not a JWT"
	}
	var claims map[string]any
	if jsonx.Unmarshal(body, &claims) != nil {
		return "token is not a JWT"
	}
	return v.checkClaims(claims)
}

func (v *jwksVerifier) checkClaims(claims map[string]any) string {
	now := v.now()
	exp, ok := claims["exp"].(float64)
	if !ok {
		return "token has no exp"
	}
	if now.Unix() >= int64(exp) {
		return "token has expired"
	}
	if nbf, ok := claims["nbf"].(float64); ok && now.Add(jwksLeeway).Unix() < int64(nbf) {
		return "token is not valid yet (nbf)"
	}
	if v.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != v.issuer {
			return "token has the wrong issuer"
		}
	}
	if !hasAudience(claims["aud"], v.audience) {
		return "token has the wrong audience"
	}
	if rb := v.revokedBefore.Load(); rb != 0 {
		if iat, ok := claims["iat"].(float64); !ok || int64(iat) <= rb {
			return "token has been revoked"
		}
	}
	return ""
}

// hasAudience: aud is a string or an array of strings (RFC 7519 §4.1.3).
func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if s, _ := x.(string); s == want {
				return true
			}
		}
	}
	return false
}

// revoke rejects every token issued up to now. `iat` has a resolution of one
// second, so tokens issued in the same second are rejected too.
func (v *jwksVerifier) revoke() { v.revokedBefore.Store(v.now().Unix()) }

// startJWKS sets up JWKS mode for Start: it discovers the JWKS URL (and the
// token endpoint) from the issuer when not given.
func startJWKS(opts *Options) (*jwksVerifier, error) {
	if opts.JWKSURL == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		jwksURI, tokenURL, err := discover(ctx, &http.Client{Timeout: 5 * time.Second}, opts.Issuer)
		if err != nil {
			return nil, err
		}
		opts.JWKSURL = jwksURI
		if opts.TokenURL == "" {
			opts.TokenURL = tokenURL
		}
	}
	return newJWKSVerifier(opts.JWKSURL, opts.Issuer, opts.Audience)
}

// jwksEnv is Env in JWKS mode: the REST address and the audience, and the
// token endpoint when known. The client id and secret are the issuer's
// business: they come from the caller's own environment.
func (c *Cluster) jwksEnv() []string {
	env := []string{
		"ZEEBE_REST_ADDRESS=" + c.RESTAddress(),
		"ZEEBE_TOKEN_AUDIENCE=" + c.opts.Audience,
	}
	if c.opts.TokenURL != "" {
		env = append(env, "ZEEBE_AUTHORIZATION_SERVER_URL="+c.opts.TokenURL)
	}
	return env
}
