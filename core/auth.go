package core

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/zbauth/zbauth/internal/redact"
)

// setUpAuth prepares what the client's strategy sends (docs/auth-strategies.md):
// the token request of OAUTH, or the fixed Authorization header of BASIC
// and BEARER; and the redactor that keeps every secret of the
// configuration, in every form it is sent in, out of error texts.
func (c *Client) setUpAuth() error {
	cfg := c.cfg
	var secrets []string
	for _, s := range cfg.Secrets() {
		// As typed, form-encoded (token request bodies echoed back) and
		// path-escaped (URLs in net/http error texts).
		secrets = append(secrets, redact.SecretForms(s)...)
	}
	switch cfg.AuthStrategy {
	case AuthBasic:
		c.static = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.BasicAuthUsername+":"+cfg.BasicAuthPassword))
		secrets = append(secrets, c.static[len("Basic "):])
	case AuthBearer:
		c.static = "Bearer " + cfg.OAuthToken
	case AuthOAuth:
		form := url.Values{"grant_type": {"client_credentials"}, "audience": {cfg.Audience}}
		if cfg.Scope != "" {
			form.Set("scope", cfg.Scope)
		}
		if cfg.Resource != "" {
			form.Set("resource", cfg.Resource)
		}
		c.form = form.Encode()
		c.post = c.form + "&" + url.Values{"client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret}}.Encode()
		// RFC 6749 §2.3.1: each part form-encoded, then base64.
		basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)))
		c.secretBasic = "Basic " + basic
		if cfg.ClientSecret != "" {
			secrets = append(secrets, basic)
		}
		if cfg.TokenAuthMethod == MethodPrivateKeyJWT {
			k, err := loadAssertionKey(cfg)
			if err != nil {
				return err
			}
			c.key = k
		}
		if cfg.DiscoveryURL() == "" {
			c.ep.Store(&tokenEndpoint{url: cfg.AuthorizationServerURL, method: cfg.TokenAuthMethod})
		}
	}
	c.red = redactor(secrets)
	return nil
}

// checkToken refuses Token and TryToken where there is no token: the BASIC
// and NONE strategies send none.
func (c *Client) checkToken() error {
	if err := c.checkOpen("token"); err != nil {
		return err
	}
	switch s := c.cfg.AuthStrategy; s {
	case AuthBasic, AuthNone:
		return &Error{Kind: KindConfig, Op: "token", Fields: []string{"auth_strategy"},
			Msg: "there is no access token: the auth strategy is " + s + ", which sends " +
				map[string]string{AuthBasic: "Basic credentials", AuthNone: "no credentials"}[s] +
				" (tokens come with OAUTH or BEARER, " + EnvAuthStrategy + ")"}
	}
	return nil
}

// tokenRequest builds one token request for ep: the form, and the
// client's credentials as ep's method wants them. A private_key_jwt
// assertion is signed anew for each request.
// jwt is the assertion sent, if any: a credential for its lifetime, to be
// kept out of error texts like the secret.
func (c *Client) tokenRequest(ep *tokenEndpoint, now time.Time) (req *Request, jwt string, err error) {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
	var body string
	switch ep.method {
	case MethodClientSecretBasic:
		h["Authorization"] = c.secretBasic
		body = c.form
	case MethodPrivateKeyJWT:
		if jwt, err = c.key.sign(c.cfg.ClientID, ep.url, now); err != nil {
			return nil, "", &Error{Kind: KindInternal, Op: "token", Msg: "could not sign the client assertion", Err: err}
		}
		body = c.form + "&" + url.Values{
			"client_id":             {c.cfg.ClientID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {jwt},
		}.Encode()
	default:
		body = c.post
	}
	return &Request{Method: "POST", URL: ep.url, Header: h, Body: []byte(body), MaxBody: maxTokenBody}, jwt, nil
}

// doStatic makes a REST call under BASIC, BEARER or NONE: one fixed
// header, nothing to renew, so a 401 is final (KindAuth).
func (c *Client) doStatic(ctx context.Context, op, method, u string, body []byte) (*Response, error) {
	resp, err := c.exchange(ctx, op, method, u, body, c.static)
	if err != nil {
		return resp, err
	}
	if resp.Status == 401 {
		what := map[string]string{AuthBasic: "the Basic credentials (basic_auth_username / basic_auth_password)",
			AuthBearer: "the bearer token (oauth_token)", AuthNone: "a request without credentials: set an auth strategy"}
		e := apiError(op, resp, redactorWith(c.red, c.static))
		e.Kind, e.Msg = KindAuth, "REST API rejected "+what[c.cfg.AuthStrategy]
		return resp, e
	}
	if resp.Status >= 400 {
		return resp, apiError(op, resp, redactorWith(c.red, c.static))
	}
	return resp, nil
}

// splitVersion splits a REST address that ends in /v1 or /v2 into the
// address before it and the version: the new SDKs' form
// (http://host:8080/v2) names the API version.
func splitVersion(addr string) (base, version string) {
	for _, v := range []string{"v1", "v2"} {
		if b, ok := strings.CutSuffix(addr, "/"+v); ok {
			return b, v
		}
	}
	return addr, ""
}

// hasVersion reports whether a REST path starts with /v1 or /v2.
func hasVersion(path string) bool {
	for _, v := range []string{"/v1", "/v2"} {
		if rest, ok := strings.CutPrefix(path, v); ok && (rest == "" || rest[0] == '/' || rest[0] == '?') {
			return true
		}
	}
	return false
}

// topologyPath is the topology endpoint of the version in use.
func (c *Client) topologyPath() string {
	v := c.version
	if p := c.topoVersion.Load(); v == "" && p != nil {
		v = *p
	}
	if v == "v2" {
		return "/v2/topology"
	}
	return "/v1/topology"
}

// effectiveLifetime is how long a token stays usable: expires_in, or the
// JWT's exp when that comes sooner (an IdP may hand out a cached token
// whose exp is near while expires_in announces a whole lifetime). exp is
// read against the token endpoint's Date header when it sent one, so that
// a local clock that is off does not matter; else against now. Both have
// whole seconds: an exp within a second of expires_in is the same
// promise, and expires_in (measured from the request) is kept.
func effectiveLifetime(tr tokenResponse, date string, now time.Time) (time.Duration, error) {
	exp, ok := jwtExpiry(tr.AccessToken)
	if !ok {
		return tr.ExpiresIn, nil
	}
	left, slack := exp.Sub(now), time.Duration(0)
	if t, ok := parseHTTPDate(date); ok {
		// Date is rounded down: up to a second has passed since.
		left, slack = exp.Sub(t), time.Second
	}
	if tr.ExpiresIn > 0 && left >= tr.ExpiresIn-time.Second {
		return tr.ExpiresIn, nil
	}
	if left-slack <= 0 {
		return 0, &Error{Kind: KindAuth, Op: "token", Status: 200,
			Msg: "token endpoint returned a token that has already expired (its JWT exp is not after the endpoint's clock)"}
	}
	return left - slack, nil
}
