"""The Python binding against a real token issuer (make test-interop).

Run with the zbauth wheel installed, under `zbauth dev-cluster --issuer ...`
(the REST side, which verifies the issuer's tokens against its JWKS):

    python interop.py success               a token, then the topology
    python interop.py wrong-secret CODE     AuthError carrying the issuer's
                                            OAuth error CODE
"""

import sys

import zbauth


def success() -> int:
    with zbauth.Client() as client:
        token = client.token()
        topology = client.topology()
    if token.count(".") != 2:
        print("interop-python: the token is not a JWT", file=sys.stderr)
        return 1
    if not topology.brokers:
        print("interop-python: empty topology", file=sys.stderr)
        return 1
    print(f"interop-python: zbauth {zbauth.__version__} from {zbauth.__file__}: token ({len(token)} bytes), "
          f"{len(topology.brokers)} brokers, gateway {topology.gateway_version}")
    return 0


def wrong_secret(code: str) -> int:
    with zbauth.Client(client_secret="wrong-secret") as client:
        try:
            client.topology()
        except zbauth.AuthError as e:
            print(f"interop-python: AuthError (code {e.code!r}): {e}")
            if code not in str(e) or "wrong-secret" in str(e):
                print(f"interop-python: the message must carry {code} and not the secret", file=sys.stderr)
                return 1
            return 0
        except zbauth.Error as e:
            print(f"interop-python: want AuthError, got {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    print("interop-python: a wrong secret got a topology", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if sys.argv[1:] == ["success"]:
        sys.exit(success())
    if len(sys.argv) == 3 and sys.argv[1] == "wrong-secret":
        sys.exit(wrong_secret(sys.argv[2]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
