/* interop.c — libzbauth against a real token issuer (make test-interop).
 *
 * Configuration comes from the environment (ZEEBE_*), as for any user of the
 * library; `zbauth dev-cluster --issuer ...` supplies the REST side, which
 * verifies the issuer's tokens against its JWKS.
 *
 *   interop success               a token, then the topology
 *   interop wrong-secret CODE     the secret "wrong-secret" must give
 *                                 ZBAUTH_ERR_AUTH, and the message must carry
 *                                 the issuer's OAuth error CODE
 *   interop refused CODE          the same for the configuration as the
 *                                 environment gives it (an unknown scope, an
 *                                 unregistered key); the message must not carry
 *                                 the configured secret
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zbauth.h>

static int fail(const char *what, zbauth_status st, char *err) {
    fprintf(stderr, "interop-c: %s: %s: %s\n", what, zbauth_status_name(st), err ? err : "(no message)");
    zbauth_free(err);
    return 1;
}

static int success(void) {
    zbauth_client *c = NULL;
    char *err = NULL, *token = NULL, *topology = NULL;
    zbauth_status st = zbauth_client_new(NULL, &c, &err);
    if (st != ZBAUTH_OK)
        return fail("zbauth_client_new", st, err);
    st = zbauth_client_token(c, &token, &err);
    if (st != ZBAUTH_OK) {
        zbauth_client_free(c);
        return fail("zbauth_client_token", st, err);
    }
    /* A JWT: three base64url parts. */
    int dots = 0;
    for (const char *p = token; *p; p++)
        dots += *p == '.';
    size_t len = strlen(token);
    zbauth_free(token);
    if (dots != 2) {
        zbauth_client_free(c);
        fprintf(stderr, "interop-c: the token is not a JWT\n");
        return 1;
    }
    st = zbauth_client_topology(c, &topology, &err);
    if (st != ZBAUTH_OK) {
        zbauth_client_free(c);
        return fail("zbauth_client_topology", st, err);
    }
    int ok = strstr(topology, "\"brokers\"") != NULL;
    printf("interop-c: token (%zu bytes), topology %.60s...\n", len, topology);
    zbauth_free(topology);
    zbauth_client_free(c);
    return ok ? 0 : 1;
}

/* The secret the environment configures, which no message may carry. */
static const char *env_secret(void) {
    const char *s = getenv("CAMUNDA_CLIENT_SECRET");
    if (!s || !*s)
        s = getenv("ZEEBE_CLIENT_SECRET");
    return s && *s ? s : NULL;
}

static int refused(const char *config, const char *code, const char *secret) {
    zbauth_client *c = NULL;
    char *err = NULL, *topology = NULL;
    zbauth_status st = zbauth_client_new(config, &c, &err);
    if (st != ZBAUTH_OK)
        return fail("zbauth_client_new", st, err);
    st = zbauth_client_topology(c, &topology, &err);
    zbauth_client_free(c);
    zbauth_free(topology);
    if (st != ZBAUTH_ERR_AUTH) {
        fprintf(stderr, "interop-c: want ZBAUTH_ERR_AUTH, got %s: %s\n", zbauth_status_name(st), err ? err : "");
        zbauth_free(err);
        return 1;
    }
    int ok = err && strstr(err, code) != NULL && (!secret || strstr(err, secret) == NULL);
    printf("interop-c: %s: %s\n", zbauth_status_name(st), err ? err : "(no message)");
    if (!ok)
        fprintf(stderr, "interop-c: the message must carry %s and not the secret\n", code);
    zbauth_free(err);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "success") == 0)
        return success();
    if (argc == 3 && strcmp(argv[1], "wrong-secret") == 0)
        return refused("{\"client_secret\":\"wrong-secret\"}", argv[2], "wrong-secret");
    if (argc == 3 && strcmp(argv[1], "refused") == 0)
        return refused(NULL, argv[2], env_secret());
    fprintf(stderr, "usage: interop success | interop wrong-secret|refused OAUTH_ERROR_CODE\n");
    return 2;
}
