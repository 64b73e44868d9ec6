/*
 * mirror.c — a C copy of each client's cached token, so that
 * zbauth_client_token and zbauth_client_token_nowait return a fresh cached
 * token without entering Go. A C thread entering Go must take one of the
 * runtime's Ps; with many threads calling, that wait reached tens of
 * milliseconds for a cached token (docs/capi-calls.md).
 *
 * The copy is only a cache of the core's decision: the core (through
 * core.WithTokenObserver, capi.go) sets it when it caches a token, with
 * how long the token stays fresh (its refresh point), and clears it when
 * it drops the token (the API rejected it, the client was closed). Past
 * the refresh point, or with no copy, the calls go to Go as before, where
 * the core starts the refresh. An entry exists only between
 * zbauth_client_new and zbauth_client_free, so a freed handle never finds a
 * token here.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np, explicit_bzero */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirror.h"

typedef struct {
	uintptr_t h;
	char *tok; /* NUL-terminated copy; NULL: none */
	size_t len;
	int64_t fresh_until; /* CLOCK_MONOTONIC ns */
} zb_entry_t;

/* Writers first: with many threads reading in a loop, glibc's default
 * (readers first) could keep a writer waiting indefinitely, and a writer
 * holds the core's token lock (it is the core telling of a dropped token). */
static pthread_rwlock_t mu;
static pthread_once_t mu_once = PTHREAD_ONCE_INIT;

static void mu_init(void) {
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&mu, &a);
	pthread_rwlockattr_destroy(&a);
}

static void rdlock(void) {
	pthread_once(&mu_once, mu_init);
	pthread_rwlock_rdlock(&mu);
}

static void wrlock(void) {
	pthread_once(&mu_once, mu_init);
	pthread_rwlock_wrlock(&mu);
}

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
	wrlock();
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
	wrlock();
	zb_entry_t *e = find(h);
	if (e) {
		tok = e->tok;
		len = e->len;
		*e = tab[--tab_len];
	}
	pthread_rwlock_unlock(&mu);
	wipe(tok, len);
}

void zb_mirror_set(uintptr_t h, const char *tok, size_t len, int64_t fresh_ns) {
	/* The clock first: any delay before the store only shortens the time
	 * the copy is used, never lengthens it past the refresh point. */
	int64_t until = now_ns() + fresh_ns;
	char *copy = NULL;
	if (tok && fresh_ns > 0 && (copy = malloc(len + 1)) != NULL) {
		memcpy(copy, tok, len);
		copy[len] = 0;
	}
	size_t old_len = copy ? len : 0;
	wrlock();
	zb_entry_t *e = find(h);
	if (e) {
		char *old = e->tok;
		size_t n = e->len;
		e->tok = copy;
		e->len = copy ? len : 0;
		e->fresh_until = until;
		copy = old;
		old_len = n;
	}
	pthread_rwlock_unlock(&mu);
	/* The old token, or this one when h has no entry. */
	wipe(copy, old_len);
}

int zb_mirror_get(uintptr_t h, char **out) {
	int ok = 0;
	rdlock();
	zb_entry_t *e = find(h);
	if (e && e->tok && now_ns() < e->fresh_until) {
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

int zb_mirror_copy(uintptr_t h, char *buf, size_t cap, size_t *len) {
	int ok = 0;
	rdlock();
	zb_entry_t *e = find(h);
	if (e && e->tok && cap > e->len && now_ns() < e->fresh_until) {
		memcpy(buf, e->tok, e->len + 1);
		if (len)
			*len = e->len;
		ok = 1;
	}
	pthread_rwlock_unlock(&mu);
	return ok;
}
