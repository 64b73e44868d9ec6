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

static pthread_rwlock_t mu = PTHREAD_RWLOCK_INITIALIZER;
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

void zb_mirror_drop(uintptr_t h) {
	pthread_rwlock_wrlock(&mu);
	zb_entry_t *e = find(h);
	if (e) {
		free(e->tok);
		*e = tab[--tab_len];
	}
	pthread_rwlock_unlock(&mu);
}

void zb_mirror_set(uintptr_t h, const char *tok, size_t len, int64_t fresh_ns) {
	char *copy = NULL;
	if (tok && fresh_ns > 0 && (copy = malloc(len + 1)) != NULL) {
		memcpy(copy, tok, len);
		copy[len] = 0;
	}
	int64_t until = now_ns() + fresh_ns;
	pthread_rwlock_wrlock(&mu);
	zb_entry_t *e = find(h);
	if (e) {
		char *old = e->tok;
		e->tok = copy;
		e->len = copy ? len : 0;
		e->fresh_until = until;
		copy = old;
	}
	pthread_rwlock_unlock(&mu);
	if (copy) {
		/* The old token, or this one when h has no entry: wiped, then freed. */
		memset(copy, 0, strlen(copy));
		free(copy);
	}
}

int zb_mirror_get(uintptr_t h, char **out) {
	int ok = 0;
	int64_t now = now_ns();
	pthread_rwlock_rdlock(&mu);
	zb_entry_t *e = find(h);
	if (e && e->tok && now < e->fresh_until) {
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
	int64_t now = now_ns();
	pthread_rwlock_rdlock(&mu);
	zb_entry_t *e = find(h);
	if (e && e->tok && now < e->fresh_until && cap > e->len) {
		memcpy(buf, e->tok, e->len + 1);
		if (len)
			*len = e->len;
		ok = 1;
	}
	pthread_rwlock_unlock(&mu);
	return ok;
}
