"""The Python binding against a real token issuer (make test-interop).

Run with the zbauth wheel installed, under `zbauth dev-cluster --issuer ...`
(the REST side, which verifies the issuer's tokens against its JWKS):

    python interop.py success               a token, then the topology
    python interop.py wrong-secret CODE     AuthError carrying the issuer's
                                            OAuth error CODE
    python interop.py refused CODE          the same for the configuration as
                                            the environment gives it (an unknown
                                            scope, an unregistered key)
"""

import os
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


def refused(code: str, secret: str = "") -> int:
    kwargs = {"client_secret": secret} if secret else {}
    secret = secret or os.environ.get("CAMUNDA_CLIENT_SECRET") or os.environ.get("ZEEBE_CLIENT_SECRET")
    with zbauth.Client(**kwargs) as client:
        try:
            client.topology()
        except zbauth.AuthError as e:
            print(f"interop-python: AuthError (code {e.code!r}): {e}")
            if code not in str(e) or (secret and secret in str(e)):
                print(f"interop-python: the message must carry {code} and not the secret", file=sys.stderr)
                return 1
            return 0
        except zbauth.Error as e:
            print(f"interop-python: want AuthError, got {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    print("interop-python: got a topology", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if sys.argv[1:] == ["success"]:
        sys.exit(success())
    if len(sys.argv) == 3 and sys.argv[1] == "wrong-secret":
        sys.exit(refused(sys.argv[2], "wrong-secret"))
    if len(sys.argv) == 3 and sys.argv[1] == "refused":
        sys.exit(refused(sys.argv[2]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
