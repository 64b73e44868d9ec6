/*
 * free.c — zbauth_free, written in C so that releasing a result does not
 * enter Go: a C thread that enters Go must take one of the runtime's Ps,
 * which with many threads calling cost more than the rest of the call
 * (docs/capi-calls.md).
 *
 * Only an error string can have something to release on the Go side: the
 * error kept for zbauth_error_details (capi.go, `details`). zb_details_live
 * counts those; while it is 0 — no error string handed out and not yet
 * freed — zbauth_free is a plain free().
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "free.h"

static atomic_long zb_details_live;

void zb_details_add(long n) { atomic_fetch_add(&zb_details_live, n); }

extern void zbgo_forget(char *s);

void zbauth_free(char *s) {
	if (s == NULL)
		return;
	/* A string with details was counted before it was handed out, so a
	 * caller freeing it sees a count above 0. */
	if (atomic_load(&zb_details_live) > 0)
		zbgo_forget(s);
	free(s);
}
