/*
 * wait.c — the blocking calls of zbauth.h, written in C so that the
 * caller's thread waits outside the Go runtime (see wait.h).
 *
 * zbauth.h is not included: cgo declares the Go exports with uintptr_t for
 * the opaque zbauth_client pointer. The definitions below have the
 * header's ABI (a pointer and a uintptr_t are passed alike).
 */
#include <stddef.h>
#include <stdint.h>

#include "wait.h"

/* The Go halves (capi.go): a status when the call finished at once (bad
 * arguments, a cached token), or ZB_PENDING when a worker will call
 * zb_wait_done. */
extern int zbgo_client_token(uintptr_t h, char **token, char **err, zb_wait *w);
extern int zbgo_client_topology(uintptr_t h, char **out, char **err, zb_wait *w);
extern int zbgo_client_request(uintptr_t h, char *method, char *path, char *body, int *http_status,
                               char **resp_body, char **err, zb_wait *w);

void zb_wait_done(zb_wait *w, int status) {
	pthread_mutex_lock(&w->mu);
	w->status = status;
	w->done = 1;
	pthread_cond_signal(&w->cond);
	/* After this unlock the waiter may return and end w's lifetime: w is
	 * not touched again. */
	pthread_mutex_unlock(&w->mu);
}

static void zb_wait_init(zb_wait *w) {
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->done = 0;
	w->status = 0;
}

static int zb_wait_for(zb_wait *w, int started) {
	int status = started;
	if (started == ZB_PENDING) {
		/* pthread_cond_wait is a cancellation point. A thread cancelled
		 * here would leave the worker writing through pointers into its
		 * dead stack (w, and the caller's out-parameters): cancellation is
		 * held off until the call is over, as it is for any blocking call
		 * into Go. */
		int old;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
		pthread_mutex_lock(&w->mu);
		while (!w->done)
			pthread_cond_wait(&w->cond, &w->mu);
		pthread_mutex_unlock(&w->mu);
		pthread_setcancelstate(old, NULL);
		status = w->status;
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	return status;
}

int zbauth_client_token(uintptr_t c, char **token, char **err) {
	zb_wait w;
	zb_wait_init(&w);
	return zb_wait_for(&w, zbgo_client_token(c, token, err, &w));
}

int zbauth_client_topology(uintptr_t c, char **topology_json, char **err) {
	zb_wait w;
	zb_wait_init(&w);
	return zb_wait_for(&w, zbgo_client_topology(c, topology_json, err, &w));
}

int zbauth_client_request(uintptr_t c, const char *method, const char *path, const char *body_json,
                          int *http_status, char **response_body, char **err) {
	zb_wait w;
	zb_wait_init(&w);
	return zb_wait_for(&w, zbgo_client_request(c, (char *)method, (char *)path, (char *)body_json,
	                                           http_status, response_body, err, &w));
}
