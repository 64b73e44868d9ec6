/*
 * mirror.c — a C copy of each client's cached token, so that
 * zbauth_client_token and zbauth_client_token_nowait return a fresh cached
 * token without entering Go. A C thread entering Go must take one of the
 * runtime's Ps; with many threads calling, that wait dominated a cached
 * token's cost (docs/capi-calls.md).
 *
 * The copy is the core's snapshot (tokenrule.Snapshot, reported through
 * corehook.WithTokenObserver, capi.go): the token and two deadlines on
 * CLOCK_MONOTONIC. It follows the core's rule (zb_token_rule below,
 * docs/token-cache.md): fresh, it is handed out; usable, it is handed out
 * too, except to one caller at a time, who asks the core instead (which
 * answers at once and starts the refresh), so a refresh point sends one
 * thread into Go, not all of them; otherwise the calls go to Go. An entry
 * exists only between zbauth_client_new and zbauth_client_free, so a freed
 * handle never finds a token here.
 */
#define _GNU_SOURCE /* PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP, explicit_bzero */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirror.h"

typedef struct {
	uintptr_t h;
	char *tok; /* NUL-terminated copy; NULL: none */
	size_t len;
	int64_t fresh_until;  /* CLOCK_MONOTONIC ns (tokenrule.Snapshot) */
	int64_t usable_until;
	int asking;           /* a caller is asking the core (atomic) */
} zb_entry_t;

/* Writers first: with many threads reading in a loop, glibc's default
 * (readers first) could keep a writer waiting indefinitely, and a writer
 * holds the core's token lock (it is the core telling of a dropped token). */
static pthread_rwlock_t mu = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

static zb_entry_t *tab;
static size_t tab_len, tab_cap;

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* mu held. Programs have a few clients: a linear search is enough. */
static zb_entry_t *find(uintptr_t h) {
	for (size_t i = 0; i < tab_len; i++)
		if (tab[i].h == h)
			return &tab[i];
	return NULL;
}

void zb_mirror_add(uintptr_t h) {
	pthread_rwlock_wrlock(&mu);
	if (tab_len == tab_cap) {
		size_t cap = tab_cap ? 2 * tab_cap : 8;
		zb_entry_t *t = realloc(tab, cap * sizeof *t);
		if (!t) { /* no copy for this client: its calls go to Go */
			pthread_rwlock_unlock(&mu);
			return;
		}
		tab = t;
		tab_cap = cap;
	}
	tab[tab_len++] = (zb_entry_t){.h = h};
	pthread_rwlock_unlock(&mu);
}

/* Wipes and frees a token copy of len bytes (and its NUL). */
static void wipe(char *tok, size_t len) {
	if (tok) {
		explicit_bzero(tok, len + 1);
		free(tok);
	}
}

void zb_mirror_drop(uintptr_t h) {
	char *tok = NULL;
	size_t len = 0;
	pthread_rwlock_wrlock(&mu);
	zb_entry_t *e = find(h);
	if (e) {
		tok = e->tok;
		len = e->len;
		*e = tab[--tab_len];
	}
	pthread_rwlock_unlock(&mu);
	wipe(tok, len);
}

void zb_mirror_set(uintptr_t h, const char *tok, size_t len, int64_t fresh_until, int64_t usable_until) {
	char *copy = NULL;
	if (tok && (copy = malloc(len + 1)) != NULL) {
		memcpy(copy, tok, len);
		copy[len] = 0;
	}
	size_t old_len = copy ? len : 0;
	pthread_rwlock_wrlock(&mu);
	zb_entry_t *e = find(h);
	if (e) {
		char *old = e->tok;
		size_t n = e->len;
		e->tok = copy;
		e->len = copy ? len : 0;
		e->fresh_until = fresh_until;
		e->usable_until = usable_until;
		copy = old;
		old_len = n;
	}
	pthread_rwlock_unlock(&mu);
	/* The old token, or this one when h has no entry. */
	wipe(copy, old_len);
}

int zb_token_rule(int64_t now, int64_t fresh_until, int64_t usable_until) {
	if (now >= usable_until)
		return ZB_TOKEN_ASK;
	if (now < fresh_until)
		return ZB_TOKEN_FRESH;
	return ZB_TOKEN_USABLE;
}

/* Whether e's copy may be handed out now. When it is usable but no longer
 * fresh, the first caller to get here is told to ask the core instead, and
 * *asked set: it calls zb_mirror_asked when done. mu held (read). */
static int may_use(zb_entry_t *e, int *asked) {
	if (!e || !e->tok)
		return 0;
	switch (zb_token_rule(now_ns(), e->fresh_until, e->usable_until)) {
	case ZB_TOKEN_FRESH:
		return 1;
	case ZB_TOKEN_USABLE: {
		int idle = 0;
		if (__atomic_compare_exchange_n(&e->asking, &idle, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			*asked = 1;
			return 0;
		}
		return 1;
	}
	}
	return 0;
}

void zb_mirror_asked(uintptr_t h) {
	pthread_rwlock_rdlock(&mu);
	zb_entry_t *e = find(h);
	if (e)
		__atomic_store_n(&e->asking, 0, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&mu);
}

int zb_mirror_get(uintptr_t h, char **out, int *asked) {
	int ok = 0;
	pthread_rwlock_rdlock(&mu);
	zb_entry_t *e = find(h);
	if (may_use(e, asked)) {
		char *s = malloc(e->len + 1);
		if (s) {
			memcpy(s, e->tok, e->len + 1);
			*out = s;
			ok = 1;
		}
	}
	pthread_rwlock_unlock(&mu);
	return ok;
}

int zb_mirror_copy(uintptr_t h, char *buf, size_t cap, size_t *len, int *asked) {
	int ok = 0;
	pthread_rwlock_rdlock(&mu);
	zb_entry_t *e = find(h);
	if (e && cap > e->len && may_use(e, asked)) {
		memcpy(buf, e->tok, e->len + 1);
		if (len)
			*len = e->len;
		ok = 1;
	}
	pthread_rwlock_unlock(&mu);
	return ok;
}
