/*
 * free.c — zbauth_free, written in C so that releasing a result does not
 * enter Go: a C thread that enters Go must take one of the runtime's Ps,
 * which with many threads calling cost more than the rest of the call
 * (docs/capi-calls.md).
 *
 * Only an error string can have something to release on the Go side: the
 * error kept for zbauth_error_details (capi.go, `details`). zb_details_live
 * counts those; while it is 0 — no error string handed out and not yet
 * freed — zbauth_free is a plain free(). The library's static strings it
 * leaves alone (zb_statics below).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "free.h"

static atomic_long zb_details_live;

/* The strings zbauth_version and zbauth_status_name return live in this
 * one block, so that zbauth_free can recognise them with one comparison
 * and leave them alone: freeing a static string is a mistake easy to make
 * and would corrupt the heap. */
static char zb_statics[256];
static size_t zb_statics_used;

const char *zb_static_string(const char *s) {
	size_t n = strlen(s) + 1;
	if (n > sizeof zb_statics - zb_statics_used)
		abort(); /* a build whose names outgrew the block */
	char *p = zb_statics + zb_statics_used;
	memcpy(p, s, n);
	zb_statics_used += n;
	return p;
}

void zb_details_add(long n) { atomic_fetch_add(&zb_details_live, n); }

extern void zbgo_forget(char *s);

void zbauth_free(char *s) {
	if (s == NULL || (uintptr_t)s - (uintptr_t)zb_statics < sizeof zb_statics)
		return;
	/* A string with details was counted before it was handed out, so a
	 * caller freeing it sees a count above 0. */
	if (atomic_load(&zb_details_live) > 0)
		zbgo_forget(s);
	free(s);
}
