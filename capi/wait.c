/*
 * wait.c — the blocking calls of zbauth.h, written in C so that the
 * caller's thread waits outside the Go runtime (see wait.h).
 *
 * zbauth.h is not included: cgo declares the Go exports with uintptr_t for
 * the opaque zbauth_client pointer. The definitions below have the
 * header's ABI (a pointer and a uintptr_t are passed alike).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mirror.h"
#include "wait.h"

/* The Go halves (capi.go): a status when the call finished at once (bad
 * arguments, a cached token), or ZB_PENDING when a worker will call
 * zb_wait_done. */
extern int zbgo_client_token(uintptr_t h, char **token, char **err, zb_wait *w);
extern int zbgo_client_topology(uintptr_t h, char **out, char **err, zb_wait *w);
extern int zbgo_client_request(uintptr_t h, char *method, char *path, char *body, int *http_status,
                               char **resp_body, char **err, zb_wait *w);

void zb_wait_done(zb_wait *w, int status) {
	w->status = status;
	/* sem_post publishes status. Once the waiter's sem_wait returns, w's
	 * lifetime may end: after the atomic increment that lets it return,
	 * glibc (2.21 and later; musl alike) only makes a futex_wake system
	 * call on the address, never a load or store, so destroying the
	 * semaphore then is safe, as POSIX requires. A later zb_wait at the
	 * same stack address may see a spurious wake-up, which sem_wait
	 * absorbs. */
	sem_post(&w->done);
}

/* ---- the call queue ---- */

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static zb_wait *q_head, *q_tail;
static int q_fd = -1;
/* The drainer found the queue empty and waits on q_fd. */
static int q_idle = 1;

int zb_calls_open(void) {
	pthread_mutex_lock(&q_mu);
	if (q_fd < 0)
		q_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int fd = q_fd;
	pthread_mutex_unlock(&q_mu);
	return fd;
}

zb_wait *zb_calls_take(void) {
	pthread_mutex_lock(&q_mu);
	zb_wait *w = q_head;
	q_head = q_tail = NULL;
	q_idle = w == NULL;
	pthread_mutex_unlock(&q_mu);
	return w;
}

/* Queues w; 0 when there is no queue. */
static int zb_calls_push(zb_wait *w) {
	w->next = NULL;
	pthread_mutex_lock(&q_mu);
	if (q_fd < 0) {
		pthread_mutex_unlock(&q_mu);
		return 0;
	}
	if (q_tail)
		q_tail->next = w;
	else
		q_head = w;
	q_tail = w;
	int wake = q_idle;
	q_idle = 0;
	int fd = q_fd;
	pthread_mutex_unlock(&q_mu);
	if (wake) {
		uint64_t one = 1;
		while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
			;
	}
	return 1;
}

/* ---- the calls ---- */

/* Fills in w for a call of kind on client h and queues it: 0 when there
 * is no queue (the caller then enters Go itself). */
static int zb_calls_add(zb_wait *w, int kind, uintptr_t h, char **out, char **err) {
	w->kind = kind;
	w->h = h;
	w->out = out;
	w->err = err;
	return zb_calls_push(w);
}

static void zb_wait_init(zb_wait *w) {
	sem_init(&w->done, 0, 0);
	w->status = 0;
}

static int zb_wait_for(zb_wait *w, int started) {
	int status = started;
	if (started == ZB_PENDING) {
		/* sem_wait is a cancellation point, and a signal handler can
		 * interrupt it. A thread cancelled here would leave the worker
		 * writing through pointers into its dead stack (w, and the
		 * caller's out-parameters): cancellation is held off until the
		 * call is over, as it is for any blocking call into Go. */
		int old;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
		while (sem_wait(&w->done) != 0 && errno == EINTR)
			;
		pthread_setcancelstate(old, NULL);
		status = w->status;
	}
	sem_destroy(&w->done);
	return status;
}

extern int zbgo_client_token_nowait(uintptr_t h, char *buf, size_t cap, size_t *len, char **err);

/* The token calls first look for a copy in mirror.c they may use, which
 * needs no Go; anything else (no copy, the one caller sent to ask about a
 * copy past its refresh point, bad arguments, a handle never made or
 * freed) goes to Go: _nowait at once on this thread, the blocking call
 * through the queue unless it is the caller sent to ask, whose answer is
 * immediate. */
int zbauth_client_token_nowait(uintptr_t c, char *buf, size_t cap, size_t *len, char **err) {
	int asked = 0;
	if (buf && zb_mirror_copy(c, buf, cap, len, &asked)) {
		if (err)
			*err = NULL;
		return 0;
	}
	int status = zbgo_client_token_nowait(c, buf, cap, len, err);
	if (asked)
		zb_mirror_asked(c);
	return status;
}

int zbauth_client_token(uintptr_t c, char **token, char **err) {
	int asked = 0;
	if (token && zb_mirror_get(c, token, &asked)) {
		if (err)
			*err = NULL;
		return 0;
	}
	zb_wait w;
	zb_wait_init(&w);
	/* No usable copy: the call would wait for the core anyway. */
	if (token && !asked && zb_calls_add(&w, ZB_CALL_TOKEN, c, token, err))
		return zb_wait_for(&w, ZB_PENDING);
	int status = zb_wait_for(&w, zbgo_client_token(c, token, err, &w));
	if (asked)
		zb_mirror_asked(c);
	return status;
}

int zbauth_client_topology(uintptr_t c, char **topology_json, char **err) {
	zb_wait w;
	zb_wait_init(&w);
	if (zb_calls_add(&w, ZB_CALL_TOPOLOGY, c, topology_json, err))
		return zb_wait_for(&w, ZB_PENDING);
	return zb_wait_for(&w, zbgo_client_topology(c, topology_json, err, &w));
}

int zbauth_client_request(uintptr_t c, const char *method, const char *path, const char *body_json,
                          int *http_status, char **response_body, char **err) {
	zb_wait w;
	zb_wait_init(&w);
	w.method = (char *)method;
	w.path = (char *)path;
	w.body = (char *)body_json;
	w.http_status = http_status;
	if (zb_calls_add(&w, ZB_CALL_REQUEST, c, response_body, err))
		return zb_wait_for(&w, ZB_PENDING);
	return zb_wait_for(&w, zbgo_client_request(c, (char *)method, (char *)path, (char *)body_json,
	                                           http_status, response_body, err, &w));
}
