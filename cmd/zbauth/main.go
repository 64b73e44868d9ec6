// Command zbauth fetches Camunda 8 access tokens and cluster topology, and
// runs the embedded dev cluster.
//
//	zbauth topology [--json]     print the cluster topology (like zbctl status)
//	zbauth token                 print an access token
//	zbauth dev-cluster [flags] [-- command args...]
//	zbauth version
//
// Configuration comes from the environment: Camunda 8.7+'s CAMUNDA_* names
// first, then the legacy ZEEBE_* ones (the README's Configuration table).
// Exit codes: 0 success, 1 internal error, 2 usage, 3 configuration (also
// `zbauth token` under BASIC or NONE, which have no token), 4
// authentication, 5 REST API error, 6 transport, 7 timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zbauth/zbauth/core"
	"github.com/zbauth/zbauth/internal/devcluster"
	"github.com/zbauth/zbauth/internal/topotext"
)

const usage = `usage: zbauth <command> [flags]

commands:
  topology [--json]   print the cluster topology
  token               print an access token
  dev-cluster [flags] [-- command args...]
                      run the local dev cluster; with a command, run it with
                      the cluster's environment and exit with its status
  version             print the version

Configuration comes from the environment; where a setting has two names,
the CAMUNDA_* one wins over the legacy ZEEBE_* one:
  CAMUNDA_REST_ADDRESS           (ZEEBE_REST_ADDRESS; or CAMUNDA_CLUSTER_REGION
                                 + CAMUNDA_CLUSTER_ID); may end in /v1 or /v2
  CAMUNDA_AUTH_STRATEGY          OAUTH, BASIC, BEARER or NONE (default: OAUTH
                                 with a client id, BASIC with a Basic username)
  OAUTH   CAMUNDA_CLIENT_ID      (ZEEBE_CLIENT_ID)
          CAMUNDA_CLIENT_SECRET  (ZEEBE_CLIENT_SECRET)
          CAMUNDA_OAUTH_URL      (ZEEBE_AUTHORIZATION_SERVER_URL), or
                                 CAMUNDA_ISSUER_URL for OpenID discovery
          CAMUNDA_TOKEN_AUDIENCE (ZEEBE_TOKEN_AUDIENCE), CAMUNDA_TOKEN_SCOPE,
          CAMUNDA_TOKEN_AUTH_METHOD, CAMUNDA_CLIENT_ASSERTION_KEY_PATH, ...
  BASIC   CAMUNDA_BASIC_AUTH_USERNAME, CAMUNDA_BASIC_AUTH_PASSWORD
  BEARER  CAMUNDA_OAUTH_TOKEN
Every variable, with its default: the Configuration table of zbauth's
README.md. BASIC and NONE send no token, so "zbauth token" refuses them.

Exit codes: 0 success, 1 internal, 2 usage, 3 configuration, 4 authentication,
5 REST API error, 6 transport, 7 timeout.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "topology":
		return cmdTopology(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "dev-cluster":
		return cmdDevCluster(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "zbauth", core.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "zbauth: unknown command %q\n%s", args[0], usage)
	return 2
}

// exitCode maps an error kind to the documented exit status.
func exitCode(err error) int {
	switch core.KindOf(err) {
	case core.KindConfig, core.KindArgument:
		return 3
	case core.KindAuth:
		return 4
	case core.KindAPI:
		return 5
	case core.KindTransport:
		return 6
	case core.KindTimeout:
		return 7
	}
	return 1
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, err)
	return exitCode(err)
}

func newClient() (*core.Client, error) { return core.New(core.Config{}) }

func cmdTopology(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("topology", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if fs.Parse(args) != nil || fs.NArg() > 0 {
		return 2
	}
	c, err := newClient()
	if err != nil {
		return fail(stderr, err)
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *asJSON {
		b, err := c.TopologyJSON(ctx)
		if err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	t, err := c.Topology(ctx)
	if err != nil {
		return fail(stderr, err)
	}
	topotext.Write(stdout, t)
	return 0
}

func cmdToken(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: zbauth token")
		return 2
	}
	c, err := newClient()
	if err != nil {
		return fail(stderr, err)
	}
	defer c.Close()
	tok, err := c.Token(context.Background())
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func cmdDevCluster(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dev-cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 0, "loopback port (0: a free one)")
	id := fs.String("client-id", "", "accepted client id (default zbauth-dev)")
	secret := fs.String("client-secret", "", "accepted client secret (default zbauth-dev-secret)")
	aud := fs.String("audience", "", "accepted audience (default zeebe.camunda.io)")
	lifetime := fs.Duration("token-lifetime", time.Hour, "lifetime of issued tokens")
	jwksURL := fs.String("jwks-url", "", "JWKS mode: verify tokens of an external issuer against its JWKS at this URL")
	issuer := fs.String("issuer", "", "JWKS mode: the required iss claim; without --jwks-url, the JWKS is found by OpenID discovery")
	tokenURL := fs.String("token-url", "", "JWKS mode: the issuer's token endpoint, exported as ZEEBE_AUTHORIZATION_SERVER_URL")
	auth := fs.String("auth", devcluster.AuthOAuth, "REST API authentication: oauth, basic or none")
	basicUser := fs.String("basic-user", "", "--auth basic: accepted user name (default zbauth-dev-user)")
	basicPassword := fs.String("basic-password", "", "--auth basic: accepted password (default zbauth-dev-password)")
	staticToken := fs.String("static-token", "", "--auth oauth: a Bearer token accepted besides issued ones (default zbauth-dev-static-token)")
	tokenAuthMethod := fs.String("token-auth-method", "", "the one client authentication the token endpoint accepts: "+strings.Join(devcluster.Methods, ", ")+" (default: any)")
	assertionCert := fs.String("assertion-cert", "", "PEM certificate file registered for private_key_jwt instead of the generated one")
	jwtExpS := fs.Int("jwt-exp-s", 0, "issued JWTs expire this many seconds after issue while expires_in stays --token-lifetime (0: the same)")
	if fs.Parse(args) != nil {
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "zbauth: dev-cluster: "+format+"\n", a...)
		return 2
	}
	switch *auth {
	case devcluster.AuthOAuth, devcluster.AuthBasic, devcluster.AuthNone:
	default:
		return usageErr("--auth must be oauth, basic or none, not %q", *auth)
	}
	if m := *tokenAuthMethod; m != "" && !slices.Contains(devcluster.Methods, m) {
		return usageErr("--token-auth-method must be one of %s, not %q", strings.Join(devcluster.Methods, ", "), m)
	}
	if *jwtExpS < 0 {
		return usageErr("--jwt-exp-s must not be negative")
	}
	if *jwksURL != "" || *issuer != "" {
		bad := ""
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "client-id", "client-secret", "token-lifetime", "auth", "basic-user", "basic-password", "static-token",
				"token-auth-method", "assertion-cert", "jwt-exp-s":
				bad = f.Name
			}
		})
		if bad != "" {
			return usageErr("--%s does not apply with --jwks-url/--issuer: the external issuer issues the tokens", bad)
		}
	} else if *tokenURL != "" {
		return usageErr("--token-url needs --jwks-url or --issuer")
	}
	var certPEM []byte
	if *assertionCert != "" {
		var err error
		if certPEM, err = os.ReadFile(*assertionCert); err != nil {
			fmt.Fprintln(stderr, "zbauth: dev-cluster: --assertion-cert:", err)
			return 1
		}
	}
	cl, err := devcluster.Start(devcluster.Options{
		Addr:     fmt.Sprintf("127.0.0.1:%d", *port),
		ClientID: *id, ClientSecret: *secret, Audience: *aud, TokenLifetime: *lifetime,
		JWKSURL: *jwksURL, Issuer: *issuer, TokenURL: *tokenURL,
		Auth: *auth, BasicUsername: *basicUser, BasicPassword: *basicPassword, StaticToken: *staticToken,
		TokenAuthMethod: *tokenAuthMethod, AssertionCertPEM: string(certPEM), JWTExp: time.Duration(*jwtExpS) * time.Second,
	})
	if err != nil {
		fmt.Fprintln(stderr, "zbauth: dev-cluster:", err)
		return 1
	}
	defer cl.Close()
	env := cl.Env()
	if cmd := fs.Args(); len(cmd) > 0 {
		return runWith(cmd, env, stdout, stderr)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(stdout, "export %s=%s\n", k, shellQuote(v))
	}
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}
	fmt.Fprintln(stderr, "zbauth: dev cluster listening on", cl.URL(), "(Ctrl-C to stop)")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return 0
}

// runWith runs cmd with env added and returns its exit status.
func runWith(cmd, env []string, stdout, stderr io.Writer) int {
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Env = append(os.Environ(), env...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, stdout, stderr
	signal.Ignore(os.Interrupt) // the child gets it from the terminal
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ee.ExitCode() >= 0 {
				return ee.ExitCode()
			}
			return 1
		}
		fmt.Fprintln(stderr, "zbauth: dev-cluster:", err)
		return 1
	}
	return 0
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
