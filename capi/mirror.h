/* mirror.h — a C copy of each client's cached token (internal; see mirror.c). */
#ifndef ZBAUTH_MIRROR_H
#define ZBAUTH_MIRROR_H

#include <stddef.h>
#include <stdint.h>

/* Go's side (capi.go): a client's entry exists from zbauth_client_new to
 * zbauth_client_free; corehook.WithTokenObserver sets its token. */
void zb_mirror_add(uintptr_t h);
void zb_mirror_drop(uintptr_t h);
/* tok (len bytes, not NUL-terminated; NULL: none) is tokenrule.Snapshot's
 * value, with its deadlines on CLOCK_MONOTONIC (ns). Ignored when h has no
 * entry. */
void zb_mirror_set(uintptr_t h, const char *tok, size_t len, int64_t fresh_until, int64_t usable_until);

/* The core's hand-out rule (tokenrule.Snapshot.Rule, docs/token-cache.md)
 * for a token held: what to do with it at now. */
enum { ZB_TOKEN_FRESH = 0, ZB_TOKEN_USABLE = 1, ZB_TOKEN_ASK = 2 };
int zb_token_rule(int64_t now, int64_t fresh_until, int64_t usable_until);

/* C's side (wait.c): 1 and a new copy in *out (zbauth_free), or 0: ask
 * the core, and when *asked was set, call zb_mirror_asked after. */
int zb_mirror_get(uintptr_t h, char **out, int *asked);
/* The same, into buf (with its NUL; *len its length when len is not NULL);
 * 0 also when buf is too small. */
int zb_mirror_copy(uintptr_t h, char *buf, size_t cap, size_t *len, int *asked);
void zb_mirror_asked(uintptr_t h);

#endif
