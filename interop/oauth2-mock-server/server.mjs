// server.mjs — oauth2-mock-server as a client-credentials issuer for zbauth's
// interop tests (see interop/README.md).
//
// It listens on 127.0.0.1 (port $PORT, default 0: a free one) and prints one
// JSON line {"issuer","token_endpoint","jwks_uri"} once it is ready. It
// signs with two keys, RS256 and ES256, which the server uses in turn, so
// that a verifier meets both algorithms. Two hooks make it behave like a
// real identity provider for the client-credentials grant:
//  - the client must authenticate: only $CLIENT_ID / $CLIENT_SECRET get a
//    token, anything else gets 401 {"error":"invalid_client"} (RFC 6749 §5.2);
//  - the access token's `aud` is the requested `audience` (as Auth0 and
//    Camunda SaaS do), its `azp`/`client_id` the client, and its lifetime
//    $TOKEN_TTL seconds (default 300).
import { timingSafeEqual } from "node:crypto";
import { OAuth2Server, Events } from "oauth2-mock-server";

const port = Number(process.env.PORT ?? 0);
const clientId = process.env.CLIENT_ID ?? "zeebe";
const clientSecret = process.env.CLIENT_SECRET ?? "zeebe-mock-secret";
const ttl = Number(process.env.TOKEN_TTL ?? 300);

const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");
await server.issuer.keys.generate("ES256");

function credentials(req) {
  const auth = req.headers.authorization ?? "";
  if (auth.startsWith("Basic ")) {
    const [id, secret] = Buffer.from(auth.slice(6), "base64").toString().split(":");
    return { id: decodeURIComponent(id ?? ""), secret: decodeURIComponent(secret ?? "") };
  }
  return { id: req.body?.client_id ?? "", secret: req.body?.client_secret ?? "" };
}

function same(a, b) {
  const x = Buffer.from(String(a)), y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

server.service.on(Events.BeforeTokenSigning, (token, req) => {
  const { id } = credentials(req);
  if (req.body?.audience !== undefined) token.payload.aud = req.body.audience;
  token.payload.azp = id;
  token.payload.client_id = id;
  token.payload.sub = "service-account-" + id;
  token.payload.exp = token.payload.iat + ttl;
});

server.service.on(Events.BeforeResponse, (response, req) => {
  if (req.body?.grant_type !== "client_credentials") return;
  const { id, secret } = credentials(req);
  if (!same(id, clientId) || !same(secret, clientSecret)) {
    response.statusCode = 401;
    response.body = { error: "invalid_client", error_description: "client authentication failed" };
    return;
  }
  response.body.expires_in = ttl;
});

await server.start(port, "127.0.0.1");
const issuer = `http://127.0.0.1:${server.address().port}`;
server.issuer.url = issuer;
process.stdout.write(JSON.stringify({ issuer, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` }) + "\n");

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    await server.stop();
    process.exit(0);
  });
}
