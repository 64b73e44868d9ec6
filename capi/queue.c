/*
 * queue.c — completion queues (zbauth.h, COMPLETION QUEUES).
 *
 * A _queued call is an _async call whose callback, zb_queue_cb below, puts
 * the outcome on the queue and makes its eventfd readable. The caller's
 * event loop watches the descriptor and takes the outcomes with
 * zbauth_queue_take, on its own thread: no code of the caller's runs on a
 * library thread, and taking never enters Go (a C thread entering Go must
 * take one of the runtime's Ps; docs/capi-calls.md).
 *
 * Ownership: a queue is shared by its table entry (until zbauth_queue_free)
 * and by every call in flight on it (until its callback is done with it);
 * the last one frees it. Entries not yet taken belong to the queue and are
 * released with it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "zbauth.h"

/* Makes *err a library error string of the given status (capi.go), so that
 * zbauth_error_details and zbauth_free treat it like any other. */
extern int zbgo_error(int status, char *msg, char **err);

typedef struct zb_entry {
	zbauth_completion c;
	struct zb_queue *q;
	struct zb_entry *next;
} zb_entry;

typedef struct zb_queue {
	pthread_mutex_t mu;
	int fd;
	int signaled; /* the eventfd is readable (written and read back under mu only) */
	int closed;   /* zbauth_queue_free was called */
	long refs;    /* the table's, and one per call in flight */
	zb_entry *head, *tail;
} zb_queue;

/* The table of live queues. A zbauth_queue handle is an id, never reused
 * and never an address, so a freed or forged one is not found. Programs
 * have a few queues: a linear search is enough. */
static pthread_rwlock_t tab_mu = PTHREAD_RWLOCK_INITIALIZER;
static struct {
	uintptr_t id;
	zb_queue *q;
} *tab;
static size_t tab_len, tab_cap;
/* Ids are 3 mod 4, client handles 1 mod 4 (capi.go): never one for the other. */
static uintptr_t next_id = 0x7a4f;

/* tab_mu held. */
static size_t tab_find(uintptr_t id) {
	for (size_t i = 0; i < tab_len; i++)
		if (tab[i].id == id)
			return i;
	return (size_t)-1;
}

static void unref(zb_queue *q) {
	pthread_mutex_lock(&q->mu);
	int last = --q->refs == 0;
	pthread_mutex_unlock(&q->mu);
	if (!last)
		return;
	close(q->fd);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/* The queue with handle h, with a reference taken; NULL when there is none. */
static zb_queue *ref(zbauth_queue *h) {
	zb_queue *q = NULL;
	pthread_rwlock_rdlock(&tab_mu);
	size_t i = tab_find((uintptr_t)h);
	if (i != (size_t)-1) {
		q = tab[i].q;
		pthread_mutex_lock(&q->mu);
		q->refs++;
		pthread_mutex_unlock(&q->mu);
	}
	pthread_rwlock_unlock(&tab_mu);
	return q;
}

zbauth_status zbauth_queue_new(zbauth_queue **out, char **err) {
	if (err)
		*err = NULL;
	if (!out)
		return zbgo_error(ZBAUTH_ERR_ARGUMENT, "out is NULL", err);
	*out = NULL;
	zb_queue *q = calloc(1, sizeof *q);
	if (!q)
		return zbgo_error(ZBAUTH_ERR_INTERNAL, "out of memory", err);
	q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->fd < 0) {
		free(q);
		return zbgo_error(ZBAUTH_ERR_INTERNAL, "cannot create an eventfd", err);
	}
	pthread_mutex_init(&q->mu, NULL);
	q->refs = 1;
	pthread_rwlock_wrlock(&tab_mu);
	if (tab_len == tab_cap) {
		size_t cap = tab_cap ? 2 * tab_cap : 4;
		void *t = realloc(tab, cap * sizeof *tab);
		if (!t) {
			pthread_rwlock_unlock(&tab_mu);
			unref(q);
			return zbgo_error(ZBAUTH_ERR_INTERNAL, "out of memory", err);
		}
		tab = t;
		tab_cap = cap;
	}
	next_id += 4;
	tab[tab_len].id = next_id;
	tab[tab_len].q = q;
	tab_len++;
	*out = (zbauth_queue *)next_id;
	pthread_rwlock_unlock(&tab_mu);
	return ZBAUTH_OK;
}

int zbauth_queue_fd(zbauth_queue *h) {
	int fd = -1;
	pthread_rwlock_rdlock(&tab_mu);
	size_t i = tab_find((uintptr_t)h);
	if (i != (size_t)-1)
		fd = tab[i].q->fd;
	pthread_rwlock_unlock(&tab_mu);
	return fd;
}

/* The list is empty: makes the descriptor unreadable. q->mu held. */
static void quiet(zb_queue *q) {
	if (q->signaled) {
		uint64_t v;
		while (read(q->fd, &v, sizeof v) < 0 && errno == EINTR)
			;
		q->signaled = 0;
	}
}

static void release(zb_entry *e) {
	zbauth_free(e->c.result);
	zbauth_free(e->c.err);
	free(e);
}

void zbauth_queue_free(zbauth_queue *h) {
	pthread_rwlock_wrlock(&tab_mu);
	size_t i = tab_find((uintptr_t)h);
	zb_queue *q = NULL;
	if (i != (size_t)-1) {
		q = tab[i].q;
		tab[i] = tab[--tab_len];
	}
	pthread_rwlock_unlock(&tab_mu);
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->closed = 1;
	zb_entry *e = q->head;
	q->head = q->tail = NULL;
	quiet(q);
	pthread_mutex_unlock(&q->mu);
	while (e) {
		zb_entry *next = e->next;
		release(e);
		e = next;
	}
	unref(q);
}

zbauth_status zbauth_queue_take(zbauth_queue *h, zbauth_completion *out, size_t max, size_t *taken) {
	if (taken)
		*taken = 0;
	if (!out || !taken)
		return ZBAUTH_ERR_ARGUMENT;
	zb_queue *q = ref(h);
	if (!q)
		return ZBAUTH_ERR_ARGUMENT;
	size_t n = 0;
	zb_entry *done = NULL;
	pthread_mutex_lock(&q->mu);
	while (n < max && q->head) {
		zb_entry *e = q->head;
		q->head = e->next;
		out[n++] = e->c;
		e->next = done;
		done = e;
	}
	if (!q->head) {
		q->tail = NULL;
		quiet(q);
	}
	pthread_mutex_unlock(&q->mu);
	while (done) {
		zb_entry *next = done->next;
		free(done);
		done = next;
	}
	*taken = n;
	unref(q);
	return ZBAUTH_OK;
}

/* The callback of every _queued call; e is its entry. */
static void zb_queue_cb(void *user_data, zbauth_status status, int http_status, char *result,
                        char *err) {
	zb_entry *e = user_data;
	zb_queue *q = e->q;
	e->c.status = status;
	e->c.http_status = http_status;
	e->c.result = result;
	e->c.err = err;
	e->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->closed) {
		pthread_mutex_unlock(&q->mu);
		release(e);
		unref(q);
		return;
	}
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	if (!q->signaled) {
		/* Written under the lock, so that the descriptor is readable
		 * exactly while signaled is set: a take that empties the list
		 * reads it back under the same lock. (Written after unlocking, a
		 * take could empty the list and find nothing to read before this
		 * write landed, leaving the descriptor readable with nothing to
		 * take.) The fd is non-blocking and its counter cannot fill. */
		uint64_t one = 1;
		while (write(q->fd, &one, sizeof one) < 0 && errno == EINTR)
			;
		q->signaled = 1;
	}
	pthread_mutex_unlock(&q->mu);
	unref(q);
}

/* begin makes the entry of a call for tag on queue h (*e), which holds a
 * reference on the queue until its callback is done; end drops both when
 * the call did not start. */
static zbauth_status begin(zbauth_queue *h, uint64_t tag, zb_entry **e, char **err) {
	if (err)
		*err = NULL;
	zb_queue *q = ref(h);
	if (!q)
		return zbgo_error(ZBAUTH_ERR_ARGUMENT, "invalid queue handle (NULL, freed or never created)",
		                  err);
	if (!(*e = calloc(1, sizeof **e))) {
		unref(q);
		return zbgo_error(ZBAUTH_ERR_INTERNAL, "out of memory", err);
	}
	(*e)->q = q;
	(*e)->c.tag = tag;
	return ZBAUTH_OK;
}

static zbauth_status end(zb_entry *e, zbauth_status st) {
	if (st != ZBAUTH_OK) {
		unref(e->q);
		free(e);
	}
	return st;
}

zbauth_status zbauth_client_token_queued(zbauth_client *c, zbauth_queue *q, uint64_t tag, char **err) {
	zb_entry *e;
	zbauth_status st = begin(q, tag, &e, err);
	return st != ZBAUTH_OK ? st : end(e, zbauth_client_token_async(c, zb_queue_cb, e, err));
}

zbauth_status zbauth_client_topology_queued(zbauth_client *c, zbauth_queue *q, uint64_t tag,
                                            char **err) {
	zb_entry *e;
	zbauth_status st = begin(q, tag, &e, err);
	return st != ZBAUTH_OK ? st : end(e, zbauth_client_topology_async(c, zb_queue_cb, e, err));
}

zbauth_status zbauth_client_request_queued(zbauth_client *c, const char *method, const char *path,
                                           const char *body_json, zbauth_queue *q, uint64_t tag,
                                           char **err) {
	zb_entry *e;
	zbauth_status st = begin(q, tag, &e, err);
	return st != ZBAUTH_OK
	           ? st
	           : end(e, zbauth_client_request_async(c, method, path, body_json, zb_queue_cb, e, err));
}
