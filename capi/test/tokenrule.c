/*
 * tokenrule.c — mirror.c's copy of the token against the core's rule: the
 * shared table testdata/tokenrule.tsv (core and the Wasm host read it too),
 * through zb_token_rule, and the one-asker step of the usable window
 * through mirror.c's own entry points. Built with mirror.c itself, not the
 * library: the rule is internal.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../mirror.h"

static int failures;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            failures++;                                                                       \
        }                                                                                     \
    } while (0)

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void table(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    char line[512];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') continue;
        int64_t now, fresh, usable;
        int has;
        char want[16];
        if (sscanf(line, "%" SCNd64 "\t%" SCNd64 "\t%" SCNd64 "\t%d\t%15s", &now, &fresh, &usable, &has, want) != 5) {
            CHECK(0, "line %d: malformed", lineno);
            continue;
        }
        n++;
        const char *got = "ask"; /* no token held: the copy has nothing to hand out */
        if (has) {
            int r = zb_token_rule(now, fresh, usable);
            got = r == ZB_TOKEN_FRESH ? "fresh" : r == ZB_TOKEN_USABLE ? "usable" : "ask";
        }
        CHECK(strcmp(got, want) == 0, "line %d: %s, want %s", lineno, got, want);
    }
    fclose(f);
    CHECK(n > 0, "no cases in %s", path);
    printf("tokenrule: %d cases\n", n);
}

/* Past the fresh deadline and before the usable one, one caller at a time
 * is sent to ask; the others get the copy. Outside the window the copy is
 * handed out to all, or to none. */
static void one_asker(void) {
    uintptr_t h = 0x2af5;
    char *tok = NULL;
    int asked = 0;
    zb_mirror_add(h);
    CHECK(!zb_mirror_get(h, &tok, &asked) && !asked, "an empty entry handed out a token");

    int64_t now = now_ns();
    zb_mirror_set(h, "tok", 3, now + 60000000000LL, now + 120000000000LL);
    CHECK(zb_mirror_get(h, &tok, &asked) && !asked && strcmp(tok, "tok") == 0, "fresh: not handed out");
    free(tok);

    zb_mirror_set(h, "tok", 3, now - 1, now + 60000000000LL);
    CHECK(!zb_mirror_get(h, &tok, &asked) && asked, "usable: the first caller was not sent to ask");
    int asked2 = 0;
    char buf[8];
    size_t len = 0;
    CHECK(zb_mirror_copy(h, buf, sizeof buf, &len, &asked2) && !asked2 && len == 3, "usable: a second caller did not get the copy");
    zb_mirror_asked(h);
    asked = 0;
    CHECK(!zb_mirror_get(h, &tok, &asked) && asked, "usable: after asked, the next caller was not sent to ask");
    zb_mirror_asked(h);

    zb_mirror_set(h, "tok", 3, now - 2, now - 1);
    asked = 0;
    CHECK(!zb_mirror_get(h, &tok, &asked) && !asked, "expired: handed out, or a caller sent to ask");
    zb_mirror_set(h, NULL, 0, 0, 0);
    CHECK(!zb_mirror_get(h, &tok, &asked) && !asked, "dropped: handed out");
    zb_mirror_drop(h);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s testdata/tokenrule.tsv\n", argv[0]);
        return 2;
    }
    table(argv[1]);
    one_asker();
    if (failures) {
        fprintf(stderr, "tokenrule: %d failures\n", failures);
        return 1;
    }
    printf("tokenrule: ok\n");
    return 0;
}
