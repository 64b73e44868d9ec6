package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
)

const (
	secretMarker = "SECRET-MARKER-abc123"
	tokenMarker  = "TOKEN-MARKER-xyz789"
)

// fmtAll formats v every way a user might log it.
func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
}

// echoRequest describes r in full: method, URL, headers and body.
func echoRequest(r *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
	for k, vs := range r.Header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ","))
	}
	body, _ := io.ReadAll(r.Body)
	b.Write(body)
	return b.String()
}

// withSecret is base with the secret in the path and in the query, as a
// careless configuration might have it.
func withSecret(base, secret string) string {
	return base + "/" + url.PathEscape(secret) + "/token?client_secret=" + url.QueryEscape(secret)
}

// markerTokenServer issues tokenMarker.
func markerTokenServer(t *testing.T) string {
	return tokenServer(t, tokenMarker).URL + "/oauth/token"
}

// withInside is s with sep between its characters, and around a
// one-character s.
func withInside(s, sep string) string {
	if len([]rune(s)) < 2 {
		return sep + s + sep
	}
	return strings.Join(strings.Split(s, ""), sep)
}

// leakScenario produces an error with the marker secret configured, and
// the client (if any) that produced it.
type leakScenario struct {
	name string
	kind core.Kind
	run  func(t *testing.T, secret string) (error, *core.Client, core.Config)
}

func leakScenarios() []leakScenario {
	// request makes a client with secret and calls call on it.
	request := func(t *testing.T, cfg core.Config, call func(*core.Client) error) (error, *core.Client, core.Config) {
		c := newClient(t, cfg)
		return call(c), c, cfg
	}
	token := func(c *core.Client) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := c.Token(ctx)
		return err
	}
	topology := func(c *core.Client) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := c.Topology(ctx)
		return err
	}
	cfgWith := func(secret, tokenURL, restURL string) core.Config {
		return core.Config{ClientID: "id", ClientSecret: secret, AuthorizationServerURL: tokenURL, RESTAddress: restURL}
	}
	// apiEchoing answers every REST request with status and the request,
	// echoed into a problem document.
	apiEchoing := func(t *testing.T, status int) string {
		return serve(t, func(w http.ResponseWriter, r *http.Request) {
			dump := echoRequest(r)
			b, _ := json.Marshal(map[string]any{"type": dump, "title": dump, "status": status, "detail": dump, "instance": dump})
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			w.Write(b)
		}).URL
	}
	return []leakScenario{
		{"bad config", core.KindConfig, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			cfg := cfgWith(secret, "https://id:"+url.QueryEscape(secret)+"@login.example/"+url.PathEscape(secret),
				"ftp://"+url.PathEscape(secret)+"/x?secret="+url.QueryEscape(secret))
			_, err := core.New(cfg, core.WithLookupEnv(noEnv))
			return err, nil, cfg
		}},
		{"bad config JSON", core.KindConfig, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			b, _ := json.Marshal(secret)
			_, err := core.ParseConfigJSON([]byte(`{"client_secret":` + string(b) + `,` + string(b) + `:1}`))
			return err, nil, core.Config{ClientSecret: secret}
		}},
		{"wrong secret", core.KindAuth, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			cl := startCluster(t, devcluster.Options{})
			cfg := clusterConfig(cl)
			cfg.ClientSecret = secret
			return request(t, cfg, topology)
		}},
		{"401 from the API", core.KindAPI, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			return request(t, cfgWith(secret, markerTokenServer(t), apiEchoing(t, 401)), topology)
		}},
		{"403 problem from the API", core.KindAPI, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			return request(t, cfgWith(secret, markerTokenServer(t), apiEchoing(t, 403)), topology)
		}},
		{"400 echoing the request", core.KindAPI, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			return request(t, cfgWith(secret, markerTokenServer(t), apiEchoing(t, 400)), func(c *core.Client) error {
				_, err := c.Do(ctxTimeout(t, 20*time.Second), "POST", "/v2/echo", []byte(`{"a":1}`))
				return err
			})
		}},
		{"token endpoint timeout", core.KindTimeout, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			slow := serve(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body) // else a client hanging up goes unnoticed
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			})
			cfg := cfgWith(secret, withSecret(slow.URL, secret), "http://127.0.0.1:1")
			cfg.Timeout = 100 * time.Millisecond
			return request(t, cfg, token)
		}},
		{"API timeout", core.KindTimeout, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			slow := serve(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body) // else a client hanging up goes unnoticed
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			})
			cfg := cfgWith(secret, markerTokenServer(t), slow.URL+"/"+url.PathEscape(secret))
			cfg.Timeout = 100 * time.Millisecond
			return request(t, cfg, topology)
		}},
		{"transport error to a URL", core.KindTransport, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			dead := deadURL(t)
			cfg := cfgWith(secret, withSecret(dead, secret), dead)
			cfg.Timeout = 300 * time.Millisecond // network errors are retried while it allows
			return request(t, cfg, token)
		}},
		{"transport error from the API", core.KindTransport, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			return request(t, cfgWith(secret, markerTokenServer(t), deadURL(t)+"/"+url.PathEscape(secret)), topology)
		}},
		{"token endpoint echoes the request", core.KindAuth, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			echo := serve(t, func(w http.ResponseWriter, r *http.Request) {
				dump := echoRequest(r)
				r.ParseForm()
				b, _ := json.Marshal(map[string]string{"error": r.PostForm.Get("client_secret"), "error_description": dump})
				w.WriteHeader(401)
				w.Write(b)
			})
			return request(t, cfgWith(secret, echo.URL, "http://127.0.0.1:1"), token)
		}},
		{"token endpoint echoes the secret with control characters inside", core.KindAuth, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			echo := serve(t, func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				got := r.PostForm.Get("client_secret")
				b, _ := json.Marshal(map[string]string{"error": withInside(got, "\x01"), "error_description": withInside(got, "\x1b[0m\u200b\n")})
				w.WriteHeader(401)
				w.Write(b)
			})
			return request(t, cfgWith(secret, echo.URL, "http://127.0.0.1:1"), token)
		}},
		{"API problem echoes the token and secret with control characters inside", core.KindAPI, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			api := serve(t, func(w http.ResponseWriter, r *http.Request) {
				tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				dump := withInside(tok, "\x01") + " " + withInside(secret, "\x7f\u0085")
				b, _ := json.Marshal(map[string]any{"type": dump, "title": dump, "status": 403, "detail": dump, "instance": dump})
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(403)
				w.Write(b)
			})
			return request(t, cfgWith(secret, markerTokenServer(t), api.URL), topology)
		}},
		{"token endpoint echoes the secret as token_type", core.KindAuth, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			echo := serve(t, func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				b, _ := json.Marshal(map[string]string{"access_token": tokenMarker, "token_type": r.PostForm.Get("client_secret")})
				w.Write(b)
			})
			return request(t, cfgWith(secret, echo.URL, "http://127.0.0.1:1"), token)
		}},
		{"token endpoint sends its token with an error", core.KindAuth, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			echo := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(400)
				w.Write([]byte(`{"access_token":"` + tokenMarker + `","error":"` + tokenMarker + `","error_description":"` + tokenMarker + `"}`))
			})
			return request(t, cfgWith(secret, echo.URL, "http://127.0.0.1:1"), token)
		}},
		{"malformed token response", core.KindAuth, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			bad := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"access_token":"` + tokenMarker + `","client_secret":"` + secret + `"`))
			})
			return request(t, cfgWith(secret, bad.URL, "http://127.0.0.1:1"), token)
		}},
		{"mac token", core.KindAuth, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			bad := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"access_token":"` + tokenMarker + `","token_type":"` + tokenMarker + `"}`))
			})
			return request(t, cfgWith(secret, bad.URL, "http://127.0.0.1:1"), token)
		}},
		{"unusable token carrying the secret", core.KindAuth, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			cl := startCluster(t, devcluster.Options{})
			tok, _ := json.Marshal(tokenMarker + "\r\nX-Secret: " + secret)
			cl.AddFault(devcluster.Fault{Target: "token", Status: 200, Body: `{"access_token":` + string(tok) + `,"expires_in":300}`})
			cfg := clusterConfig(cl)
			cfg.ClientSecret = secret
			return request(t, cfg, token)
		}},
		{"NaN expires_in", core.KindAuth, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			cl := startCluster(t, devcluster.Options{})
			cl.AddFault(devcluster.Fault{Target: "token", Status: 200, Body: `{"access_token":"` + tokenMarker + `","expires_in":"NaN"}`})
			cfg := clusterConfig(cl)
			cfg.ClientSecret = secret
			return request(t, cfg, token)
		}},
		{"malformed topology echoing the request", core.KindAPI, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			api := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"brokers":"` + echoRequest(r)))
			})
			return request(t, cfgWith(secret, markerTokenServer(t), api.URL), topology)
		}},
		{"huge token response", core.KindTransport, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			huge := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(strings.Repeat(secret+tokenMarker, 1<<16)))
			})
			return request(t, cfgWith(secret, withSecret(huge.URL, secret), "http://127.0.0.1:1"), token)
		}},
		{"closed client", core.KindArgument, func(t *testing.T, secret string) (error, *core.Client, core.Config) {
			return request(t, cfgWith(secret, markerTokenServer(t), "http://127.0.0.1:1"), func(c *core.Client) error {
				c.Close()
				return token(c)
			})
		}},
	}
}

// Neither the client secret nor an access token ever appears in an error,
// a Config or a Client, however they are formatted, whatever went wrong.
func TestNoSecretInErrors(t *testing.T) {
	t.Parallel()
	secrets := []string{
		secretMarker,
		"s3cr&t+/ =%?#\"x'" + secretMarker, // needs every kind of escaping
		// Short secrets are removed too, whatever that does to the text
		// around them; these characters are in none of zbauth's own texts.
		"^", "^|", "^|~",
	}
	for _, sc := range leakScenarios() {
		for i, secret := range secrets {
			t.Run(fmt.Sprintf("%s/%d", sc.name, i), func(t *testing.T) {
				t.Parallel()
				err, c, cfg := sc.run(t, secret)
				asError(t, err, sc.kind)
				texts := map[string]string{
					"err.Error()": err.Error(),
					"fmt(err)":    fmtAll(err),
					"fmt(Config)": fmtAll(cfg) + fmtAll(&cfg),
				}
				if b, jerr := json.Marshal(cfg); jerr == nil {
					texts["json(Config)"] = string(b)
				}
				if c != nil {
					texts["fmt(Client)"] = fmtAll(c)
					texts["fmt(Client.Config())"] = fmtAll(c.Config())
				}
				for what, text := range texts {
					for _, marker := range []string{secretMarker, tokenMarker, url.QueryEscape(secret), secret} {
						if strings.Contains(text, marker) {
							t.Errorf("%s leaks %q:\n%s", what, marker, text)
						}
					}
				}
			})
		}
	}
}
