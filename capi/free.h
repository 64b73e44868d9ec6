/* free.h — the C side of zbauth_free (internal; see free.c). */
#ifndef ZBAUTH_FREE_H
#define ZBAUTH_FREE_H

/* Adds n to the count of error strings whose details Go keeps. */
void zb_details_add(long n);

/* Copies s, once at load time, into the block of static strings that
 * zbauth_free leaves alone, and returns the copy. Not thread-safe. */
const char *zb_static_string(const char *s);

#endif
