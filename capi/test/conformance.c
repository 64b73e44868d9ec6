/* conformance.c — runs the shared conformance vectors against libzbauth.
 *
 * Input: the TSV form of testdata/conformance/vectors.json produced by
 * internal/tools/vectors2tsv (argv[1]). Run under `zbauth dev-cluster --`.
 * Ends with the line "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zbauth.h>

#include "devctl.h"

enum { NAME, OP, METHOD, PATH, BODY, CONFIG, FAULTS, EXPECT_OK, TOKEN, STATUS, BODY_CONTAINS,
       ERROR, MESSAGE_CONTAINS, TOKEN_REQUESTS, API_REQUESTS, NCOLS };

static const char *code_name(zbauth_status s) {
    /* "ZBAUTH_ERR_AUTH" -> "AUTH" */
    const char *n = zbauth_status_name(s);
    const char *p = strstr(n, "_ERR_");
    return p ? p + 5 : n;
}

/* split cuts line at tabs into exactly NCOLS fields; empty fields allowed. */
static int split(char *line, char **f) {
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p; p++) {
        if (*p == '\t') {
            *p = 0;
            if (n == NCOLS) return -1;
            f[n++] = p + 1;
        } else if (*p == '\n') {
            *p = 0;
        }
    }
    return n;
}

static int run(char **f) {
    int ok = 1;
#define FAIL(...) do { ok = 0; fprintf(stderr, "FAIL %s: ", f[NAME]); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } while (0)
    reset();
    if (*f[FAULTS]) dev("POST", "/_dev/faults", f[FAULTS]);

    zbauth_client *c = NULL;
    char *err = NULL, *out = NULL;
    int http_status = 0;
    zbauth_status st = zbauth_client_new(f[CONFIG], &c, &err);
    if (st == ZBAUTH_OK) {
        if (strcmp(f[OP], "token") == 0) {
            st = zbauth_client_token(c, &out, &err);
        } else if (strcmp(f[OP], "topology") == 0) {
            st = zbauth_client_topology(c, &out, &err);
        } else if (strcmp(f[OP], "request") == 0) {
            st = zbauth_client_request(c, f[METHOD], f[PATH], *f[BODY] ? f[BODY] : NULL, &http_status, &out, &err);
        } else {
            FAIL("unknown op %s", f[OP]);
        }
    }
    if (atoi(f[EXPECT_OK])) {
        if (st != ZBAUTH_OK) FAIL("want success, got %s: %s", zbauth_status_name(st), err ? err : "");
        if (*f[TOKEN] && (!out || strcmp(out, f[TOKEN]) != 0)) FAIL("token = %s, want %s", out ? out : "(null)", f[TOKEN]);
        if (atoi(f[STATUS]) && http_status != atoi(f[STATUS])) FAIL("status = %d, want %s", http_status, f[STATUS]);
        if (*f[BODY_CONTAINS] && (!out || !strstr(out, f[BODY_CONTAINS]))) FAIL("body lacks %s", f[BODY_CONTAINS]);
    } else {
        if (st == ZBAUTH_OK) {
            FAIL("want %s, got success", f[ERROR]);
        } else {
            if (strcmp(code_name(st), f[ERROR]) != 0) FAIL("code %s, want %s (%s)", code_name(st), f[ERROR], err ? err : "");
            if (!err) FAIL("no error message");
            char want[32];
            snprintf(want, sizeof want, "HTTP %s)", f[STATUS]);
            if (err && atoi(f[STATUS]) && !strstr(err, want)) FAIL("message %s lacks %s", err, want);
            if (err && *f[MESSAGE_CONTAINS] && !strstr(err, f[MESSAGE_CONTAINS]))
                FAIL("message %s lacks %s", err, f[MESSAGE_CONTAINS]);
            const char *secret = getenv("ZEEBE_CLIENT_SECRET");
            if (err && (strstr(err, "SECRET-MARKER") || strstr(err, "TOKEN-MARKER") || (secret && strstr(err, secret))))
                FAIL("message leaks a secret: %s", err);
        }
    }
    long want_tok = atol(f[TOKEN_REQUESTS]), want_api = atol(f[API_REQUESTS]);
    long got_tok = dev_stat("token_requests"), got_api = dev_stat("api_requests");
    if (want_tok >= 0 && got_tok != want_tok) FAIL("token_requests = %ld, want %ld", got_tok, want_tok);
    if (want_api >= 0 && got_api != want_api) FAIL("api_requests = %ld, want %ld", got_api, want_api);
    zbauth_free(out);
    zbauth_free(err);
    zbauth_client_free(c);
    printf("%s %s\n", ok ? "ok  " : "FAIL", f[NAME]);
    return ok;
#undef FAIL
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: conformance vectors.tsv\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    int passed = 0, failed = 0;
    char line[8192];
    while (fgets(line, sizeof line, in)) {
        char *f[NCOLS];
        if (split(line, f) != NCOLS) {
            fprintf(stderr, "malformed vectors line: %.60s\n", line);
            return 2;
        }
        if (run(f)) passed++; else failed++;
    }
    fclose(in);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
