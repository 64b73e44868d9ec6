"""What the realm import cannot know, set through Keycloak's admin REST API
once Keycloak is up (make test-interop; see interop/README.md):

- the certificates of the private_key_jwt clients, made anew by each run
  (interop/run.sh, prepare_assertion_keys): the attribute
  jwt.credential.certificate of zeebe-jwt (RSA) and zeebe-jwt-es256 (EC), the
  base64 DER of the certificate, as the admin console stores an uploaded one;
- the client scope zeebe-scope (included in the token's `scope` claim), an
  optional scope of zeebe, zeebe-basic and zeebe-jwt. It is not in the realm
  file because a realm import that lists clientScopes gets none of
  Keycloak's default scopes (basic, which puts `sub` in the token, among
  them).

    python3 setup.py KEYCLOAK_URL REALM ADMIN_USER ADMIN_PASSWORD ASSERTION_DIR

Every change is read back; the script fails when one did not take.
"""

import base64
import json
import sys
import urllib.parse
import urllib.request

SCOPE = "zeebe-scope"
SCOPE_CLIENTS = ["zeebe", "zeebe-basic", "zeebe-jwt"]
CERTIFICATES = {"zeebe-jwt": "cert.pem", "zeebe-jwt-es256": "ec-cert.pem"}


class Admin:
    def __init__(self, base, realm, user, password):
        self.base, self.realm = base.rstrip("/"), realm
        form = urllib.parse.urlencode(
            {"grant_type": "password", "client_id": "admin-cli", "username": user, "password": password}
        ).encode()
        with urllib.request.urlopen(self.base + "/realms/master/protocol/openid-connect/token", form, timeout=30) as r:
            self.token = json.load(r)["access_token"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base}/admin/realms/{self.realm}{path}", data=data, method=method,
            headers={"Authorization": "Bearer " + self.token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def client(self, client_id):
        found = self.call("GET", "/clients?clientId=" + urllib.parse.quote(client_id))
        if len(found) != 1:
            sys.exit(f"setup: client {client_id}: {len(found)} matches")
        return found[0]


def der_base64(pem_path):
    with open(pem_path) as f:
        pem = f.read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    b = "".join(body.split())
    base64.b64decode(b, validate=True)
    return b


def main(base, realm, user, password, assertion_dir):
    a = Admin(base, realm, user, password)
    for client_id, pem in CERTIFICATES.items():
        rep = a.client(client_id)
        cert = der_base64(f"{assertion_dir}/{pem}")
        rep.setdefault("attributes", {})["jwt.credential.certificate"] = cert
        a.call("PUT", f"/clients/{rep['id']}", rep)
        back = a.client(client_id)
        if back["attributes"].get("jwt.credential.certificate") != cert or back["clientAuthenticatorType"] != "client-jwt":
            sys.exit(f"setup: {client_id}: the certificate did not take")
        print(f"{client_id}: client-jwt, signing alg {back['attributes'].get('token.endpoint.auth.signing.alg')}, "
              f"certificate from {pem} registered")

    a.call("POST", "/client-scopes", {
        "name": SCOPE, "protocol": "openid-connect",
        "description": "zbauth interop: requested with scope=" + SCOPE,
        "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "false"},
    })
    scope_id = next(s["id"] for s in a.call("GET", "/client-scopes") if s["name"] == SCOPE)
    for client_id in SCOPE_CLIENTS:
        uuid = a.client(client_id)["id"]
        a.call("PUT", f"/clients/{uuid}/optional-client-scopes/{scope_id}")
        if SCOPE not in [s["name"] for s in a.call("GET", f"/clients/{uuid}/optional-client-scopes")]:
            sys.exit(f"setup: {client_id}: {SCOPE} is not an optional scope")
    print(f"client scope {SCOPE}: optional for {', '.join(SCOPE_CLIENTS)}")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
