/* conformance.c — runs the shared conformance vectors against libzbauth.
 *
 * Input: the TSV form of testdata/conformance/vectors.json produced by
 * internal/tools/vectors2tsv (argv[1]). Run under `zbauth dev-cluster --`.
 * What a runner does is testdata/conformance/README.md. The base
 * configuration is the dev cluster's environment, which the library reads
 * itself (fields the scenario's config does not give). Ends with the line
 * "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zbauth.h>

#include "devctl.h"

enum { NAME, OP, METHOD, PATH, BODY, CONFIG, DEV_CONFIG, FAULTS, EXPECT_OK, TOKEN, STATUS, BODY_CONTAINS,
       ERROR, MESSAGE_CONTAINS, TOKEN_REQUESTS, API_REQUESTS, TOPOLOGY_CLUSTER_ID, NCOLS };

/* The secrets no error text may contain: the dev cluster's own (it
 * exports them for the runners). */
static const char *const secret_vars[] = {"ZEEBE_CLIENT_SECRET", "ZBAUTH_DEV_BASIC_PASSWORD", "ZBAUTH_DEV_STATIC_TOKEN",
                                          "ZBAUTH_DEV_ASSERTION_KEYSTORE_PASSWORD"};

static const char *code_name(zbauth_status s) {
    /* "ZBAUTH_ERR_AUTH" -> "AUTH" */
    const char *n = zbauth_status_name(s);
    const char *p = strstr(n, "_ERR_");
    return p ? p + 5 : n;
}

/* A growable string. */
typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* put_escaped appends s with what a JSON string cannot hold raw escaped. */
static void put_escaped(buf *b, const char *s) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            put(b, e, 2);
        } else if (ch < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", ch);
            put(b, e, 6);
        } else {
            put(b, s, 1);
        }
    }
}

static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_name_char(char c) { return is_upper(c) || (c >= '0' && c <= '9') || c == '_'; }

/* expand returns cfg (a compact JSON object) with each top-level string
 * value that starts with "$NAME" (NAME: [A-Z][A-Z0-9_]*) given NAME's
 * value from getenv in place of that prefix ("" when unset), as the
 * README's runners do; keys and nested values are left alone. The caller
 * frees the result with free(). */
static char *expand(const char *cfg) {
    buf b = {0};
    int depth = 0;
    char prev = 0; /* the last character outside strings */
    for (const char *p = cfg; *p; p++) {
        if (*p != '"') {
            if (*p == '{' || *p == '[') depth++;
            if (*p == '}' || *p == ']') depth--;
            if (*p != ' ') prev = *p;
            put(&b, p, 1);
            continue;
        }
        /* A string: from its opening quote to its closing one. */
        const char *start = p + 1, *end = start;
        while (*end && *end != '"') end += (*end == '\\' && end[1]) ? 2 : 1;
        put(&b, "\"", 1);
        const char *rest = start;
        if (depth == 1 && prev == ':' && start[0] == '$' && is_upper(start[1])) {
            const char *n = start + 2;
            while (n < end && is_name_char(*n)) n++;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(n - start - 1), start + 1);
            const char *v = getenv(name);
            put_escaped(&b, v ? v : "");
            rest = n;
        }
        put(&b, rest, (size_t)(end - rest));
        if (*end) put(&b, "\"", 1);
        p = *end ? end : end - 1;
        prev = '"';
    }
    if (!b.p) put(&b, "", 0);
    return b.p;
}

/* cluster_id copies the top-level "clusterId" of a topology JSON into
 * out; "" when it has none (a /v1 answer: the field is omitted). */
static void cluster_id(const char *topo, char *out, size_t cap) {
    static const char key[] = "\"clusterId\":\"";
    const char *p = topo ? strstr(topo, key) : NULL;
    out[0] = 0;
    if (!p) return;
    p += sizeof key - 1;
    size_t n = 0;
    while (p[n] && p[n] != '"') n++;
    snprintf(out, cap, "%.*s", (int)n, p);
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
    if (*f[DEV_CONFIG]) dev("POST", "/_dev/config", f[DEV_CONFIG]);
    if (*f[FAULTS]) dev("POST", "/_dev/faults", f[FAULTS]);

    zbauth_client *c = NULL;
    char *err = NULL, *out = NULL;
    int http_status = 0;
    char *cfg = expand(f[CONFIG]);
    zbauth_status st = zbauth_client_new(cfg, &c, &err);
    free(cfg);
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
        if (*f[TOPOLOGY_CLUSTER_ID] == '=') {
            char got[256];
            cluster_id(out, got, sizeof got);
            if (!out || strcmp(got, f[TOPOLOGY_CLUSTER_ID] + 1) != 0)
                FAIL("clusterId = \"%s\", want \"%s\" in %s", got, f[TOPOLOGY_CLUSTER_ID] + 1, out ? out : "(null)");
        }
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
            if (err && (strstr(err, "SECRET-MARKER") || strstr(err, "TOKEN-MARKER")))
                FAIL("message leaks a secret: %s", err);
            for (size_t i = 0; err && i < sizeof secret_vars / sizeof *secret_vars; i++) {
                const char *secret = getenv(secret_vars[i]);
                if (secret && *secret && strstr(err, secret)) FAIL("message leaks %s: %s", secret_vars[i], err);
            }
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
