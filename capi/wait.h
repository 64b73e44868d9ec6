/*
 * wait.h — how a blocking libzbauth call waits (internal; not installed).
 *
 * zbauth_client_token, _topology and _request are written in C (wait.c).
 * Each calls its Go half (zbgo_* in capi.go), which checks the arguments
 * and hands the work to an async worker goroutine, then sleeps on a
 * condition variable outside Go until the worker reports the status with
 * zb_wait_done. The caller's goroutine is never locked to its thread while
 * waiting on the network, so Go does not have to wake that one thread
 * again at every wait inside net/http. docs/capi-calls.md has the figures.
 */
#ifndef ZBAUTH_WAIT_H
#define ZBAUTH_WAIT_H

#include <pthread.h>

typedef struct zb_wait {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int done;
	int status;
} zb_wait;

/* Returned by a zbgo_* half that started the work: wait for zb_wait_done. */
#define ZB_PENDING (-1)

/* Called once, by the worker, when the work is over. */
void zb_wait_done(zb_wait *w, int status);

#endif
