/*
 * wait.h — how a blocking libzbauth call waits (internal; not installed).
 *
 * zbauth_client_token, _topology and _request are written in C (wait.c).
 * The caller's thread sleeps on a semaphore outside Go until an async
 * worker goroutine reports the status with zb_wait_done. The worker's
 * goroutine is never locked to the caller's thread, so Go does not have to
 * wake that one thread again at every wait inside net/http.
 *
 * A call that waits on the network anyway (topology, request) does not
 * even enter Go on the caller's thread: it is put on a queue (zb_queue_*)
 * that a Go goroutine drains, woken through an eventfd by Go's network
 * poller. A C thread that enters Go must take one of the runtime's Ps, and
 * leaves it parked until the runtime's monitor takes it back; with many
 * threads calling, that left Ps idle and threads handing Ps to one another.
 * The token calls answer a fresh cached token from mirror.c's copy. The
 * one caller that mirror.c sends to ask the core about a token past its
 * refresh point enters Go (zbgo_client_token), which returns that token at
 * once and starts the refresh; a caller with no usable copy to wait for is
 * queued like topology, so a cold burst of threads does not all enter Go.
 * The drainer answers it at once if the core has a token by then, else it
 * joins the core's token request (capi.go, joinToken), which calls back
 * once for every such caller.
 * docs/capi-calls.md has the figures.
 */
#ifndef ZBAUTH_WAIT_H
#define ZBAUTH_WAIT_H

#include <semaphore.h>
#include <stdint.h>

enum { ZB_CALL_TOPOLOGY = 1, ZB_CALL_REQUEST = 2, ZB_CALL_TOKEN = 3 };

/* One blocking call, on the caller's stack: its rendezvous, and for a
 * queued call its arguments (borrowed from the caller, who waits). A
 * semaphore, not a mutex and condition variable: with those, the woken
 * caller went straight back to sleep on the mutex the worker still held. */
typedef struct zb_wait {
	sem_t done;
	int status;
	int kind;
	uintptr_t h;
	char *method, *path, *body;
	int *http_status;
	char **out, **err;
	struct zb_wait *next;
} zb_wait;

/* Returned by a zbgo_* half that started the work: wait for zb_wait_done. */
#define ZB_PENDING (-1)

/* Called once, by the worker, when the work is over. */
void zb_wait_done(zb_wait *w, int status);

/* The call queue (zb_calls_*; not the completion queues of queue.c) and
 * its eventfd (non-blocking), created once by the library's initialisation
 * (capi.go); -1 when it cannot be: the calls then enter Go on the caller's
 * thread. */
int zb_calls_open(void);
/* Takes every queued call, oldest first (NULL: none, and the next
 * zb_calls_push writes to the eventfd). */
zb_wait *zb_calls_take(void);

#endif
