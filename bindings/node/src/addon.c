/*
 * addon.c — the Node-API addon of the zbauth Node binding.
 *
 * It only converts: JS values to C strings and back, library status codes
 * to JS errors (built by a factory the JS wrapper registers). Behaviour
 * lives in libzbauth (zbauth's Go core behind capi/zbauth.h), which this
 * addon dlopen()s at run time, so the addon has no link-time dependency on
 * it. Every string the library returns is copied into a JS string and then
 * released with zbauth_free.
 *
 * Threads
 *   Nothing that may touch the network runs on the JS thread. The JS thread
 *   starts each call with the library's _async functions (zbauth.h), which
 *   return at once; the library calls back on a thread of its own, and the
 *   result comes back through a napi_threadsafe_function. No thread waits
 *   for the network, so any number of calls can be in flight; neither
 *   libuv's threadpool (4 threads by default) nor a pool of our own is
 *   involved. token() is served synchronously only through a
 *   library call that never waits (see js_token).
 *
 * Signals
 *   The Go runtime requires every signal handler installed after it loads
 *   to use SA_ONSTACK. Node installs a handler when the first listener for
 *   a signal is added (process.on('SIGUSR2', ...)); the JS wrapper then
 *   calls fixSignals(), which sets SA_ONSTACK on every installed handler
 *   that lacks it.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zbauth.h"

/* ------------------------------------------------------------------ */
/* The library, loaded once per process.                               */

static struct {
    pthread_mutex_t mu; /* serialises loading */
    atomic_int ready;   /* set once every function below is resolved */
    void *dl;
    char *path;
    __typeof__(zbauth_version) *version;
    __typeof__(zbauth_client_new) *client_new;
    __typeof__(zbauth_client_free) *client_free;
    __typeof__(zbauth_free) *free;
    __typeof__(zbauth_error_details) *error_details;
    __typeof__(zbauth_client_token_async) *client_token_async;
    __typeof__(zbauth_client_topology_async) *client_topology_async;
    __typeof__(zbauth_client_request_async) *client_request_async;
    /* Optional: a token call that never waits (see js_token). */
    zbauth_status (*client_token_nowait)(zbauth_client *c, char *buf, size_t cap, size_t *len, char **err);
} lib = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------------ */
/* Per-environment state (one per JS realm: main thread, each Worker). */

typedef struct envctx {
    pthread_mutex_t mu; /* guards closed and calls of tsfn from other threads */
    int closed;         /* the tsfn is finalized: deliver nothing more */
    atomic_int refs;    /* the env itself + every job in flight */
    napi_threadsafe_function tsfn;
    /* JS-thread only: */
    napi_ref make_error; /* (status, message, detailsJSON, body) => ZbauthError */
    napi_ref json_parse; /* JSON.parse */
    long pending;        /* jobs in flight; the tsfn keeps the loop alive while > 0 */
} envctx;

static void envctx_unref(envctx *ec) {
    if (atomic_fetch_sub(&ec->refs, 1) == 1) {
        pthread_mutex_destroy(&ec->mu);
        free(ec);
    }
}

/* A client as the JS side holds it (an external; JS-thread only). */
typedef struct zbclient {
    zbauth_client *h;
    /* js_token's buffers: buf receives a token, last holds the one last
     * returned to JS (so that an unchanged token is not converted again). */
    char *buf, *last;
    size_t cap;
} zbclient;

/* ------------------------------------------------------------------ */
/* Jobs.                                                                */

enum { OP_TOKEN, OP_TOPOLOGY, OP_REQUEST };

typedef struct job {
    struct job *next;
    int op;
    zbauth_client *handle;
    char *method, *path, *body; /* OP_REQUEST: owned copies */
    /* results, written by the thread that ran the job */
    int status;
    int http;
    char *out;     /* from the library: zbauth_free */
    char *err;     /* from the library: zbauth_free */
    char *details; /* zbauth_error_details(err), from the library: zbauth_free */
    /* JS-thread only */
    envctx *ec;
    zbclient *client; /* kept alive by keep */
    int async;     /* counted in ec->pending and ec->refs */
    napi_ref keep; /* the client external, alive while the job runs */
    napi_deferred deferred;
} job;

/* job_release frees what a job owns except its JS references. */
static void job_release(job *j) {
    lib.free(j->out);
    lib.free(j->err);
    lib.free(j->details);
    free(j->method);
    free(j->path);
    free(j->body);
    free(j);
}

/* deliver hands a finished job to its environment's JS thread, from any
 * other thread. */
static void deliver(job *j) {
    envctx *ec = j->ec;
    napi_status st = napi_closing;
    pthread_mutex_lock(&ec->mu);
    if (!ec->closed) st = napi_call_threadsafe_function(ec->tsfn, j, napi_tsfn_nonblocking);
    pthread_mutex_unlock(&ec->mu);
    if (st != napi_ok) { /* the environment is gone: nobody to tell */
        job_release(j);
        envctx_unref(ec);
    }
}

/* ------------------------------------------------------------------ */
/* Node-API helpers.                                                    */

#define NAPI_OK(call)                                                                                   \
    do {                                                                                                \
        if ((call) != napi_ok) return throw_last(env, #call);                                           \
    } while (0)

static napi_value throw_last(napi_env env, const char *what) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) {
        char msg[256];
        snprintf(msg, sizeof msg, "zbauth: Node-API call failed: %s: %s", what,
                 info && info->error_message ? info->error_message : "unknown error");
        napi_throw_error(env, "INTERNAL", msg);
    }
    return NULL;
}

static envctx *get_ctx(napi_env env) {
    void *data = NULL;
    napi_get_instance_data(env, &data);
    return data;
}

/* make_error calls the wrapper's error factory with a library status, its
 * message, the zbauth_error_details JSON (or NULL) and, for request(), the
 * response body (or NULL). On failure it returns a plain Error. */
static napi_value make_error(napi_env env, envctx *ec, int status, const char *msg, const char *details,
                             const char *body) {
    napi_value factory, argv[4], result = NULL, undef;
    napi_get_undefined(env, &undef);
    napi_create_int32(env, status, &argv[0]);
    napi_create_string_utf8(env, msg ? msg : "zbauth: unknown error", NAPI_AUTO_LENGTH, &argv[1]);
    if (details) napi_create_string_utf8(env, details, NAPI_AUTO_LENGTH, &argv[2]);
    else napi_get_null(env, &argv[2]);
    if (body) napi_create_string_utf8(env, body, NAPI_AUTO_LENGTH, &argv[3]);
    else napi_get_null(env, &argv[3]);
    if (ec && ec->make_error && napi_get_reference_value(env, ec->make_error, &factory) == napi_ok && factory &&
        napi_call_function(env, undef, factory, 4, argv, &result) == napi_ok && result)
        return result;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_value ex;
        napi_get_and_clear_last_exception(env, &ex);
    }
    napi_create_error(env, NULL, argv[1], &result);
    return result;
}

/* parse_json returns JSON.parse(text), or NULL (no exception left pending)
 * when text is not JSON. */
static napi_value parse_json(napi_env env, envctx *ec, napi_value text) {
    napi_value parse, undef, result = NULL;
    napi_get_undefined(env, &undef);
    if (napi_get_reference_value(env, ec->json_parse, &parse) != napi_ok ||
        napi_call_function(env, undef, parse, 1, &text, &result) != napi_ok) {
        bool pending = false;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
            napi_value ex;
            napi_get_and_clear_last_exception(env, &ex);
        }
        return NULL;
    }
    return result;
}

/* with_v2_fields gives a topology the v2 fields a v1 answer lacks (the
 * library leaves them out when empty) as "", so that every topology has
 * the same shape. */
static void with_v2_fields(napi_env env, napi_value topo) {
    static const char *const names[] = {"lastCompletedChangeId", "clusterId"};
    napi_valuetype t;
    if (napi_typeof(env, topo, &t) != napi_ok || t != napi_object) return;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        bool has = false;
        if (napi_has_named_property(env, topo, names[i], &has) == napi_ok && !has) {
            napi_value empty;
            napi_create_string_utf8(env, "", 0, &empty);
            napi_set_named_property(env, topo, names[i], empty);
        }
    }
}

/* settle turns a finished job into its JS value. It returns 1 with *out
 * set to the fulfilment value, or 0 with *out set to the rejection. */
static int settle(napi_env env, envctx *ec, job *j, napi_value *out) {
    if (j->status != ZBAUTH_OK) {
        *out = make_error(env, ec, j->status, j->err, j->details, j->op == OP_REQUEST ? j->out : NULL);
        return 0;
    }
    napi_value s;
    switch (j->op) {
    case OP_TOKEN:
        napi_create_string_utf8(env, j->out ? j->out : "", NAPI_AUTO_LENGTH, out);
        return 1;
    case OP_TOPOLOGY:
        napi_create_string_utf8(env, j->out ? j->out : "", NAPI_AUTO_LENGTH, &s);
        if (!(*out = parse_json(env, ec, s))) {
            *out = make_error(env, ec, ZBAUTH_ERR_INTERNAL, "zbauth: topology: the library returned malformed JSON", NULL, NULL);
            return 0;
        }
        with_v2_fields(env, *out);
        return 1;
    default: { /* OP_REQUEST: { status, body } */
        napi_value obj, status, body = NULL;
        napi_create_object(env, &obj);
        napi_create_int32(env, j->http, &status);
        if (j->out && *j->out) {
            napi_create_string_utf8(env, j->out, NAPI_AUTO_LENGTH, &s);
            body = parse_json(env, ec, s);
            if (!body) body = s; /* not JSON: the text as it came */
        } else {
            napi_get_null(env, &body);
        }
        napi_set_named_property(env, obj, "status", status);
        napi_set_named_property(env, obj, "body", body);
        *out = obj;
        return 1;
    }
    }
}

/* go_async accounts for a job that will finish later (JS thread): it
 * keeps the client external and the environment alive, and the event loop
 * running, until finish_job. */
static void go_async(napi_env env, job *j, napi_value ext) {
    envctx *ec = j->ec;
    j->async = 1;
    atomic_fetch_add(&ec->refs, 1);
    if (ec->pending++ == 0) napi_ref_threadsafe_function(env, ec->tsfn);
    napi_create_reference(env, ext, 1, &j->keep);
}

/* finish_job drops a job's JS references and frees it (JS thread). */
static void finish_job(napi_env env, job *j) {
    envctx *ec = j->ec;
    int async = j->async;
    if (j->keep) napi_delete_reference(env, j->keep);
    job_release(j);
    if (async) {
        if (--ec->pending == 0) napi_unref_threadsafe_function(env, ec->tsfn);
        envctx_unref(ec);
    }
}

/* call_js runs on the JS thread for every job delivered through the tsfn. */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
    (void)js_cb;
    (void)context;
    job *j = data;
    if (!env) { /* the tsfn is being torn down with the environment */
        envctx *ec = j->ec;
        job_release(j);
        envctx_unref(ec);
        return;
    }
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value v;
    int ok = settle(env, j->ec, j, &v);
    if (j->deferred) {
        if (ok) napi_resolve_deferred(env, j->deferred, v);
        else napi_reject_deferred(env, j->deferred, v);
    }
    finish_job(env, j);
    napi_close_handle_scope(env, scope);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    envctx *ec = data;
    pthread_mutex_lock(&ec->mu);
    ec->closed = 1;
    pthread_mutex_unlock(&ec->mu);
    envctx_unref(ec);
}

static void env_finalize(napi_env env, void *data, void *hint) {
    (void)hint;
    envctx *ec = data;
    if (ec->make_error) napi_delete_reference(env, ec->make_error);
    if (ec->json_parse) napi_delete_reference(env, ec->json_parse);
    ec->make_error = ec->json_parse = NULL;
    envctx_unref(ec);
}

/* ---- argument helpers ---- */

/* get_string copies a JS string into a malloc'd buffer; NULL with a
 * pending exception on failure. NUL characters are refused: C would
 * silently cut the string there. */
static char *get_string(napi_env env, envctx *ec, napi_value v, const char *what) {
    size_t len = 0;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
        char msg[128];
        snprintf(msg, sizeof msg, "zbauth: %s must be a string", what);
        napi_throw(env, make_error(env, ec, ZBAUTH_ERR_ARGUMENT, msg, NULL, NULL));
        return NULL;
    }
    char *s = malloc(len + 1);
    if (!s) {
        napi_throw(env, make_error(env, ec, ZBAUTH_ERR_INTERNAL, "zbauth: out of memory", NULL, NULL));
        return NULL;
    }
    napi_get_value_string_utf8(env, v, s, len + 1, &len);
    if (strlen(s) != len) {
        free(s);
        char msg[128];
        snprintf(msg, sizeof msg, "zbauth: %s contains a NUL character", what);
        napi_throw(env, make_error(env, ec, ZBAUTH_ERR_ARGUMENT, msg, NULL, NULL));
        return NULL;
    }
    return s;
}

static int lib_loaded(napi_env env) {
    if (atomic_load_explicit(&lib.ready, memory_order_acquire)) return 1;
    napi_throw_error(env, "INTERNAL", "zbauth: the native library is not loaded (call init first)");
    return 0;
}

/* get_client reads the client external argument. */
static zbclient *get_client(napi_env env, napi_value v) {
    void *p = NULL;
    if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
        napi_throw_type_error(env, "INTERNAL", "zbauth: not a client handle");
        return NULL;
    }
    return p;
}

/* new_job prepares a job (JS thread). */
static job *new_job(napi_env env, envctx *ec, int op, zbclient *c) {
    job *j = calloc(1, sizeof *j);
    if (!j) {
        napi_throw(env, make_error(env, ec, ZBAUTH_ERR_INTERNAL, "zbauth: out of memory", NULL, NULL));
        return NULL;
    }
    j->op = op;
    j->handle = c->h;
    j->client = c;
    j->ec = ec;
    return j;
}

/* lib_done is the zbauth_callback of the library's _async calls: it runs
 * on a library thread, takes ownership of result and err, and hands the
 * job to the JS thread. */
static void lib_done(void *user_data, zbauth_status status, int http_status, char *result, char *err) {
    job *j = user_data;
    j->status = status;
    j->http = http_status;
    j->out = result;
    j->err = err;
    if (status != ZBAUTH_OK && err) lib.error_details(err, &j->details);
    deliver(j);
}

/* lib_start starts j with the library's _async call. It returns 1 when
 * started (lib_done will deliver it), or 0 with j's status and error set
 * when the call did not start. */
static int lib_start(job *j) {
    /* Locals: once started, j belongs to lib_done, which may already be
     * running on another thread when the _async call returns. */
    char *err = NULL;
    zbauth_status st;
    switch (j->op) {
    case OP_TOKEN:
        st = lib.client_token_async(j->handle, lib_done, j, &err);
        break;
    case OP_TOPOLOGY:
        st = lib.client_topology_async(j->handle, lib_done, j, &err);
        break;
    default:
        st = lib.client_request_async(j->handle, j->method, j->path, j->body, lib_done, j, &err);
        break;
    }
    if (st == ZBAUTH_OK) return 1;
    j->status = st;
    j->err = err;
    if (err) lib.error_details(err, &j->details);
    return 0;
}

/* start_async starts j with the library's _async call and returns its
 * promise. */
static napi_value start_async(napi_env env, job *j, napi_value ext) {
    napi_value promise;
    go_async(env, j, ext);
    if (napi_create_promise(env, &j->deferred, &promise) != napi_ok) {
        finish_job(env, j);
        return throw_last(env, "napi_create_promise");
    }
    if (!lib_start(j)) { /* settled here: the call never started */
        napi_value v;
        settle(env, j->ec, j, &v);
        napi_reject_deferred(env, j->deferred, v);
        finish_job(env, j);
    }
    return promise;
}

/* ------------------------------------------------------------------ */
/* Exported functions.                                                  */

/* init(libraryPath, makeError) → version. Loads the library (once per
 * process; later calls keep the first library) and registers the error
 * factory for this environment. */
static napi_value js_init(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    envctx *ec = get_ctx(env);
    napi_valuetype t;
    if (argc < 2 || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) {
        napi_throw_type_error(env, NULL, "zbauth: init(libraryPath, makeError)");
        return NULL;
    }
    char *path = get_string(env, NULL, argv[0], "library path");
    if (!path) return NULL;

    pthread_mutex_lock(&lib.mu);
    if (!lib.dl) {
        dlerror();
        void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
            const char *e = dlerror();
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", e ? e : "dlopen failed");
            pthread_mutex_unlock(&lib.mu);
            free(path);
            napi_throw_error(env, "LOAD", msg);
            return NULL;
        }
        const char *missing = NULL;
#define SYM(field, name)                                                                                \
    if (!missing && !(lib.field = (__typeof__(lib.field))dlsym(dl, name))) missing = name;
        SYM(version, "zbauth_version")
        SYM(client_new, "zbauth_client_new")
        SYM(client_free, "zbauth_client_free")
        SYM(free, "zbauth_free")
        SYM(error_details, "zbauth_error_details")
        SYM(client_token_async, "zbauth_client_token_async")
        SYM(client_topology_async, "zbauth_client_topology_async")
        SYM(client_request_async, "zbauth_client_request_async")
#undef SYM
        if (missing) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s is not libzbauth: it has no symbol %s", path, missing);
            pthread_mutex_unlock(&lib.mu);
            free(path);
            napi_throw_error(env, "LOAD", msg);
            return NULL; /* the Go runtime cannot be unloaded: leave dl open */
        }
        lib.client_token_nowait = (__typeof__(lib.client_token_nowait))dlsym(dl, "zbauth_client_token_nowait");
        lib.dl = dl;
        lib.path = path;
        path = NULL;
        atomic_store_explicit(&lib.ready, 1, memory_order_release);
    }
    pthread_mutex_unlock(&lib.mu);
    free(path);

    if (ec->make_error) napi_delete_reference(env, ec->make_error);
    NAPI_OK(napi_create_reference(env, argv[1], 1, &ec->make_error));
    napi_value version;
    NAPI_OK(napi_create_string_utf8(env, lib.version(), NAPI_AUTO_LENGTH, &version));
    return version;
}

/* libraryPath() → the path the library was loaded from, or null. */
static napi_value js_library_path(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value v;
    pthread_mutex_lock(&lib.mu);
    if (lib.path) napi_create_string_utf8(env, lib.path, NAPI_AUTO_LENGTH, &v);
    else napi_get_null(env, &v);
    pthread_mutex_unlock(&lib.mu);
    return v;
}

/* features() → { tokenNowait }: optional library functions in use. */
static napi_value js_features(napi_env env, napi_callback_info info) {
    (void)info;
    if (!lib_loaded(env)) return NULL;
    napi_value obj, b;
    NAPI_OK(napi_create_object(env, &obj));
    NAPI_OK(napi_get_boolean(env, lib.client_token_nowait != NULL, &b));
    NAPI_OK(napi_set_named_property(env, obj, "tokenNowait", b));
    return obj;
}

/* fixSignals() → how many handlers got SA_ONSTACK. */
static napi_value js_fix_signals(napi_env env, napi_callback_info info) {
    (void)info;
    int fixed = 0;
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        struct sigaction sa;
        if (sigaction(s, NULL, &sa) != 0) continue;
        if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN) continue;
        if (sa.sa_flags & SA_ONSTACK) continue;
        sa.sa_flags |= SA_ONSTACK;
        if (sigaction(s, &sa, NULL) == 0) fixed++;
    }
    napi_value v;
    NAPI_OK(napi_create_int32(env, fixed, &v));
    return v;
}

static void client_finalize(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    zbclient *c = data;
    /* Harmless on a handle that close() already freed (zbauth.h). */
    lib.client_free(c->h);
    free(c->buf);
    free(c->last);
    free(c);
}

/* clientNew(configJSON | null) → client external. */
static napi_value js_client_new(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (!lib_loaded(env)) return NULL;
    envctx *ec = get_ctx(env);
    char *cfg = NULL;
    napi_valuetype t = napi_undefined;
    if (argc >= 1) napi_typeof(env, argv[0], &t);
    if (t != napi_undefined && t != napi_null && !(cfg = get_string(env, ec, argv[0], "config"))) return NULL;
    zbauth_client *h = NULL;
    char *err = NULL;
    int st = lib.client_new(cfg, &h, &err);
    free(cfg);
    if (st != ZBAUTH_OK) {
        char *details = NULL;
        if (err) lib.error_details(err, &details);
        napi_throw(env, make_error(env, ec, st, err, details, NULL));
        lib.free(details);
        lib.free(err);
        return NULL;
    }
    lib.free(err);
    zbclient *c = calloc(1, sizeof *c);
    napi_value ext;
    if (!c || napi_create_external(env, c, client_finalize, NULL, &ext) != napi_ok) {
        lib.client_free(h);
        free(c);
        return throw_last(env, "napi_create_external");
    }
    c->h = h;
    return ext;
}

/* clientFree(client) — releases the handle now; idempotent. */
static napi_value js_client_free(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    zbclient *c;
    NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || !(c = get_client(env, argv[0])) || !lib_loaded(env)) return NULL;
    lib.client_free(c->h);
    free(c->buf);
    free(c->last);
    c->buf = c->last = NULL;
    c->cap = 0;
    return NULL;
}

/* token_nowait asks the library for a cached token without waiting. It
 * returns 1 with the token in c->buf, or 0. */
static int token_nowait(zbclient *c) {
    if (!c->buf) {
        size_t cap = 4096;
        c->buf = malloc(cap);
        c->last = malloc(cap);
        if (!c->buf || !c->last) {
            free(c->buf);
            free(c->last);
            c->buf = c->last = NULL;
            return 0;
        }
        c->last[0] = 0;
        c->cap = cap;
    }
    size_t len = 0;
    int st = lib.client_token_nowait(c->h, c->buf, c->cap, &len, NULL);
    if (st == ZBAUTH_ERR_ARGUMENT && len + 1 > c->cap && len < (1u << 24)) { /* a bigger token */
        char *b = malloc(len + 1), *l = malloc(len + 1);
        if (!b || !l) {
            free(b);
            free(l);
            return 0;
        }
        memcpy(l, c->last, strlen(c->last) + 1);
        free(c->buf);
        free(c->last);
        c->buf = b;
        c->last = l;
        c->cap = len + 1;
        st = lib.client_token_nowait(c->h, c->buf, c->cap, &len, NULL);
    }
    return st == ZBAUTH_OK;
}

/* token(client) → a string, true, or a Promise<string>.
 *
 * zbauth_client_token waits on the network when no usable token is cached,
 * so it is never called here: zbauth_client_token_async is. A library that exports
 * zbauth_client_token_nowait (zbauth_client_token for threads that must
 * not wait: it copies a cached token into a caller's buffer, or returns a
 * non-OK status at once and leaves the token request running in the
 * background) lets this thread serve cached tokens synchronously. `true`
 * then means "the same token as the string this function last returned
 * for this client", which the wrapper keeps: an unchanged token is not
 * converted again. Everything else goes to zbauth_client_token_async.
 *
 * A cached token comes from the library's C copy of it (capi/mirror.c),
 * without entering Go. Without one, zbauth_client_token_nowait starts the
 * token request, and the zbauth_client_token_async call that follows
 * joins it (or, if it failed meanwhile, gets its error). The wrapper
 * shares that call's promise with the token() calls made meanwhile, so a
 * cold burst is one call here (docs/token-cache.md). */
static napi_value js_token(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    zbclient *c;
    NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || !(c = get_client(env, argv[0])) || !lib_loaded(env)) return NULL;
    if (lib.client_token_nowait) {
        if (token_nowait(c)) {
            napi_value v;
            if (strcmp(c->buf, c->last) == 0) {
                NAPI_OK(napi_get_boolean(env, true, &v));
                return v;
            }
            NAPI_OK(napi_create_string_utf8(env, c->buf, NAPI_AUTO_LENGTH, &v));
            char *t = c->last; /* the new token becomes the last one */
            c->last = c->buf;
            c->buf = t;
            return v;
        }
        /* nothing cached, or a refusal: the _async call reports the outcome */
    }
    job *j = new_job(env, get_ctx(env), OP_TOKEN, c);
    return j ? start_async(env, j, argv[0]) : NULL;
}

/* topology(client) → Promise<object>. */
static napi_value js_topology(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    zbclient *c;
    NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || !(c = get_client(env, argv[0])) || !lib_loaded(env)) return NULL;
    job *j = new_job(env, get_ctx(env), OP_TOPOLOGY, c);
    return j ? start_async(env, j, argv[0]) : NULL;
}

/* request(client, method, path, bodyJSON | null) → Promise<{status, body}>. */
static napi_value js_request(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    zbclient *c;
    NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 4 || !(c = get_client(env, argv[0])) || !lib_loaded(env)) return NULL;
    envctx *ec = get_ctx(env);
    char *method = NULL, *path = NULL, *body = NULL;
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (!(method = get_string(env, ec, argv[1], "method")) || !(path = get_string(env, ec, argv[2], "path")) ||
        (t != napi_null && t != napi_undefined && !(body = get_string(env, ec, argv[3], "body")))) {
        free(method);
        free(path);
        return NULL;
    }
    job *j = new_job(env, ec, OP_REQUEST, c);
    if (!j) {
        free(method);
        free(path);
        free(body);
        return NULL;
    }
    j->method = method;
    j->path = path;
    j->body = body;
    return start_async(env, j, argv[0]);
}

NAPI_MODULE_INIT() {
    envctx *ec = calloc(1, sizeof *ec);
    if (!ec) {
        napi_throw_error(env, NULL, "zbauth: out of memory");
        return NULL;
    }
    pthread_mutex_init(&ec->mu, NULL);
    atomic_init(&ec->refs, 2); /* the environment and the tsfn */
    napi_value name, global, json, parse;
    NAPI_OK(napi_create_string_utf8(env, "zbauth", NAPI_AUTO_LENGTH, &name));
    NAPI_OK(napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, ec, tsfn_finalize, NULL, call_js, &ec->tsfn));
    NAPI_OK(napi_unref_threadsafe_function(env, ec->tsfn));
    NAPI_OK(napi_get_global(env, &global));
    NAPI_OK(napi_get_named_property(env, global, "JSON", &json));
    NAPI_OK(napi_get_named_property(env, json, "parse", &parse));
    NAPI_OK(napi_create_reference(env, parse, 1, &ec->json_parse));
    NAPI_OK(napi_set_instance_data(env, ec, env_finalize, NULL));

    napi_property_descriptor props[] = {
        {"init", NULL, js_init, NULL, NULL, NULL, napi_enumerable, NULL},
        {"libraryPath", NULL, js_library_path, NULL, NULL, NULL, napi_enumerable, NULL},
        {"features", NULL, js_features, NULL, NULL, NULL, napi_enumerable, NULL},
        {"fixSignals", NULL, js_fix_signals, NULL, NULL, NULL, napi_enumerable, NULL},
        {"clientNew", NULL, js_client_new, NULL, NULL, NULL, napi_enumerable, NULL},
        {"clientFree", NULL, js_client_free, NULL, NULL, NULL, napi_enumerable, NULL},
        {"token", NULL, js_token, NULL, NULL, NULL, napi_enumerable, NULL},
        {"topology", NULL, js_topology, NULL, NULL, NULL, napi_enumerable, NULL},
        {"request", NULL, js_request, NULL, NULL, NULL, napi_enumerable, NULL},
    };
    NAPI_OK(napi_define_properties(env, exports, sizeof props / sizeof *props, props));
    return exports;
}
