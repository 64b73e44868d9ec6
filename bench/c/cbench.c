/* cbench.c — benchmarks of libzbauth from C, against the dev cluster.
 *
 *   cbench LIBRARY [quick] > c.json
 *   cbench LIBRARY serve
 *   cbench LIBRARY serve-async
 *   cbench LIBRARY tokens
 *
 * Run under `zbauth dev-cluster --`. The library is loaded with dlopen, so
 * that loading is measured; the functions are the ones declared in
 * zbauth.h. Prints one run of each figure as JSON rows in the format of
 * bench/README.md.
 *
 * The first form (bench/bench.mk runs it several times: loading can only
 * be timed once per process):
 *   library load: dlopen, ... to first call, rss added by loading
 *   token cached           zbauth_client_token + zbauth_free, ns/call
 *   rss after 10k topology calls (the whole process), and its peak
 *
 * The second form serves cmd/measure, which measures the C topology
 * figures (sequential latency, 64 threads sharing one client) in slices
 * interleaved with the Go peers and the net/http floor; see serve(). The
 * third serves the same commands with zbauth_client_topology_async: one
 * call started and waited for, or 64 calls kept in flight from one thread.
 *
 * The fourth serves cmd/measure's cold burst and refresh stall: its
 * client starts with an empty cache (see tokens()).
 *
 * Nothing here asserts a timing; it exits non-zero only on an error.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zbauth.h>

static __typeof__(zbauth_version) *p_version;
static __typeof__(zbauth_status_name) *p_status_name;
static __typeof__(zbauth_client_new) *p_client_new;
static __typeof__(zbauth_client_token) *p_client_token;
static __typeof__(zbauth_client_topology) *p_client_topology;
static __typeof__(zbauth_client_free) *p_client_free;
static __typeof__(zbauth_free) *p_free;
static __typeof__(zbauth_client_topology_async) *p_client_topology_async;
static __typeof__(zbauth_client_token_nowait) *p_client_token_nowait;
static __typeof__(zbauth_error_details) *p_error_details;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A field of /proc/self/status in kB ("VmRSS", "VmHWM"). */
static double status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t n = strlen(field);
    double v = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtod(line + n + 1, NULL);
            break;
        }
    }
    fclose(f);
    return v;
}

static void die(const char *what, zbauth_status st, char *err) {
    fprintf(stderr, "cbench: %s: %s: %s\n", what, p_status_name ? p_status_name(st) : "?", err ? err : "");
    exit(1);
}

static int first_row = 1;

/* Prints one row. baseline and note may be NULL. The targets are
 * the report's (bench/cmd/report), not set here. */
static void row(const char *name, const char *unit, double value, const char *baseline, const char *note) {
    printf("%s\n  {\"surface\": \"c\", \"name\": \"%s\", \"unit\": \"%s\", \"runs\": [%.6g]",
           first_row ? "[" : ",", name, unit, value);
    if (baseline) printf(", \"baseline\": \"%s\"", baseline);
    if (note) printf(", \"note\": \"%s\"", note);
    printf("}");
    first_row = 0;
}

static void *sym(void *h, const char *name) {
    void *p = dlsym(h, name);
    if (!p) {
        fprintf(stderr, "cbench: dlsym %s: %s\n", name, dlerror());
        exit(1);
    }
    return p;
}

static zbauth_client *client;

static void topology_once(void) {
    char *topo = NULL, *err = NULL;
    zbauth_status st = p_client_topology(client, &topo, &err);
    if (st != ZBAUTH_OK) die("zbauth_client_topology", st, err);
    p_free(topo);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static atomic_int stop;
static atomic_long done_calls;

static void *worker(void *arg) {
    (void)arg;
    long k = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        topology_once();
        k++;
    }
    atomic_fetch_add(&done_calls, k);
    return NULL;
}

/* ---- serve-async: the same commands through zbauth_client_topology_async ---- */

static int async_mode;
static pthread_mutex_t amu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t acv = PTHREAD_COND_INITIALIZER;
static long inflight, adone, afailed;

static void on_topology(void *user_data, zbauth_status status, int http_status, char *result, char *err);

static void start_async(void) {
    char *err = NULL;
    zbauth_status st = p_client_topology_async(client, on_topology, NULL, &err);
    if (st != ZBAUTH_OK) die("zbauth_client_topology_async", st, err);
}

/* Counts the call; unless stopping, starts the next one (from the library's
 * thread: callbacks may call the library). */
static void on_topology(void *user_data, zbauth_status status, int http_status, char *result, char *err) {
    (void)user_data;
    (void)http_status;
    p_free(result);
    p_free(err);
    int again = !atomic_load_explicit(&stop, memory_order_relaxed);
    pthread_mutex_lock(&amu);
    adone++;
    if (status != ZBAUTH_OK) afailed++;
    if (!again) inflight--;
    pthread_cond_broadcast(&acv);
    pthread_mutex_unlock(&amu);
    if (again) start_async();
}

/* One call, started asynchronously and waited for. */
static void topology_async_once(void) {
    pthread_mutex_lock(&amu);
    long want = adone + 1;
    inflight = 1;
    pthread_mutex_unlock(&amu);
    atomic_store(&stop, 1);
    start_async();
    pthread_mutex_lock(&amu);
    while (adone < want) pthread_cond_wait(&acv, &amu);
    pthread_mutex_unlock(&amu);
    if (afailed) die("zbauth_client_topology_async", ZBAUTH_ERR_INTERNAL, "a call failed");
}

/* t calls in flight for ms milliseconds; returns the calls completed. */
static long async_par(int t, int ms) {
    pthread_mutex_lock(&amu);
    long before = adone;
    inflight = t;
    pthread_mutex_unlock(&amu);
    atomic_store(&stop, 0);
    for (int i = 0; i < t; i++) start_async();
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
    atomic_store(&stop, 1);
    pthread_mutex_lock(&amu);
    while (inflight > 0) pthread_cond_wait(&acv, &amu);
    long n = adone - before;
    pthread_mutex_unlock(&amu);
    if (afailed) die("zbauth_client_topology_async", ZBAUTH_ERR_INTERNAL, "a call failed");
    return n;
}

/* serve takes topology commands on stdin, so that cmd/measure can
 * interleave C with the Go peers in small slices (the same background load
 * for all). Each answer is one line on stdout:
 *   seq N        → "seq" and the N latencies in µs
 *   par T MS     → "par" COUNT ELAPSED_NS: T threads sharing the client
 *                   (serve-async: T calls in flight from one thread)
 *                   for MS milliseconds
 *   quit (or EOF)
 */
static int serve(void) {
    enum { MAXT = 256 };
    void (*once)(void) = async_mode ? topology_async_once : topology_once;
    for (int i = 0; i < 50; i++) once(); /* token, connection, warm paths */
    printf("ready\n");
    fflush(stdout);
    char line[128];
    double *lat = NULL;
    int cap = 0;
    while (fgets(line, sizeof line, stdin)) {
        int n, t, ms;
        if (sscanf(line, "seq %d", &n) == 1 && n > 0) {
            if (n > cap) {
                lat = realloc(lat, sizeof(double) * (size_t)n);
                cap = n;
            }
            for (int i = 0; i < n; i++) {
                double a = now_ns();
                once();
                lat[i] = (now_ns() - a) / 1e3;
            }
            printf("seq");
            for (int i = 0; i < n; i++) printf(" %.3f", lat[i]);
            printf("\n");
        } else if (sscanf(line, "par %d %d", &t, &ms) == 2 && t > 0 && t <= MAXT && ms > 0) {
            if (async_mode) {
                double s = now_ns();
                long n = async_par(t, ms);
                printf("par %ld %.0f\n", n, now_ns() - s);
                fflush(stdout);
                continue;
            }
            pthread_t th[MAXT];
            atomic_store(&stop, 0);
            atomic_store(&done_calls, 0);
            double s = now_ns();
            for (int i = 0; i < t; i++) pthread_create(&th[i], NULL, worker, NULL);
            struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
            nanosleep(&d, NULL);
            atomic_store(&stop, 1);
            for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
            printf("par %ld %.0f\n", atomic_load(&done_calls), now_ns() - s);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            fprintf(stderr, "cbench serve: bad command: %s", line);
            return 2;
        }
        fflush(stdout);
    }
    free(lat);
    return 0;
}

/* ---- tokens: cold burst and refresh stall, for cmd/measure ---- */

static int token_once(void) {
    char *tok = NULL, *err = NULL;
    zbauth_status st = p_client_token(client, &tok, &err);
    p_free(tok);
    p_free(err);
    return st == ZBAUTH_OK;
}

static pthread_barrier_t burst_start, burst_done;
static double *burst_end;
static atomic_int burst_failed, burst_ready;
static int burst_call; /* 0: the callers are released and make no call */

static void *burst_caller(void *arg) {
    long i = (long)arg;
    /* A thread's first call into the library binds it to the Go runtime
     * (a cost paid once per thread): done before the start, so that the
     * burst measures callers that already use the library. */
    char *d = NULL;
    p_error_details(NULL, &d);
    atomic_fetch_add(&burst_ready, 1);
    pthread_barrier_wait(&burst_start);
    if (burst_call && !token_once()) atomic_fetch_add(&burst_failed, 1);
    burst_end[i] = now_ns();
    /* Exiting threads (stack unmapping, TLB shootdowns) would slow the
     * callers still waking: no caller exits before all have a token. */
    pthread_barrier_wait(&burst_done);
    return NULL;
}

static atomic_int watch_stop;
static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static double watch_worst, watch_slow;
static long watch_calls, watch_blocked, watch_failed;

/* One caller of the refresh stall: a token about every millisecond. */
static void *watch_caller(void *arg) {
    (void)arg;
    double worst = 0;
    long k = 0, bad = 0, slow = 0;
    struct timespec ms = {0, 1000000L};
    while (!atomic_load(&watch_stop)) {
        double t = now_ns();
        if (!token_once()) bad++;
        double e = now_ns() - t;
        if (e > worst) worst = e;
        if (e >= watch_slow) slow++;
        k++;
        nanosleep(&ms, NULL);
    }
    pthread_mutex_lock(&watch_mu);
    if (worst > watch_worst) watch_worst = worst;
    watch_calls += k;
    watch_failed += bad;
    watch_blocked += slow;
    pthread_mutex_unlock(&watch_mu);
    return NULL;
}

/* tokens takes commands on stdin, as serve() does, on a client whose cache
 * starts empty (no call is made before the first command):
 *   token           → "token NS FAILED": one zbauth_client_token (+ zbauth_free)
 *   burst N         → "burst NS FAILED": N threads released at once, one
 *                     call each; NS until the last one returned
 *   burst N nocall  → the same with no call: what releasing the threads
 *                     costs by itself
 *   watch T SLOW_MS → "watching", then T threads calling zbauth_client_token about every
 *                     millisecond until the next line ("stop"), then
 *                     "watch WORST_NS BLOCKED CALLS FAILED" (BLOCKED: calls
 *                     that took at least SLOW_MS)
 *   quit (or EOF)
 */
static int tokens(void) {
    enum { MAXT = 4096, MAXW = 256 };
    printf("ready\n");
    fflush(stdout);
    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        int n, t, slow_ms;
        char mode[16] = "";
        if (strncmp(line, "token", 5) == 0) {
            double a = now_ns();
            int ok = token_once();
            printf("token %.0f %d\n", now_ns() - a, ok ? 0 : 1);
        } else if (sscanf(line, "burst %d %15s", &n, mode) >= 1 && n > 0 && n <= MAXT) {
            static pthread_t th[MAXT];
            burst_call = strcmp(mode, "nocall") != 0;
            burst_end = calloc((size_t)n, sizeof(double));
            atomic_store(&burst_failed, 0);
            atomic_store(&burst_ready, 0);
            pthread_barrier_init(&burst_start, NULL, (unsigned)n + 1);
            pthread_barrier_init(&burst_done, NULL, (unsigned)n);
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setstacksize(&attr, 256 * 1024);
            for (long i = 0; i < n; i++)
                if (pthread_create(&th[i], &attr, burst_caller, (void *)i) != 0) die("pthread_create", ZBAUTH_ERR_INTERNAL, NULL);
            pthread_attr_destroy(&attr);
            /* The clock starts once every caller waits at the barrier:
             * binding 1,000 threads to the Go runtime takes far longer
             * than the burst, and must not be counted in it. */
            struct timespec settle = {0, 1000000L};
            while (atomic_load(&burst_ready) < n) nanosleep(&settle, NULL);
            nanosleep(&settle, NULL); /* the last one from its increment into the barrier */
            double t0 = now_ns();
            pthread_barrier_wait(&burst_start);
            double last = t0;
            for (int i = 0; i < n; i++) {
                pthread_join(th[i], NULL);
                if (burst_end[i] > last) last = burst_end[i];
            }
            pthread_barrier_destroy(&burst_start);
            pthread_barrier_destroy(&burst_done);
            free(burst_end);
            printf("burst %.0f %d\n", last - t0, atomic_load(&burst_failed));
        } else if (sscanf(line, "watch %d %d", &t, &slow_ms) == 2 && t > 0 && t <= MAXW && slow_ms > 0) {
            pthread_t th[MAXW];
            atomic_store(&watch_stop, 0);
            watch_worst = 0;
            watch_calls = watch_blocked = watch_failed = 0;
            watch_slow = slow_ms * 1e6;
            for (int i = 0; i < t; i++) pthread_create(&th[i], NULL, watch_caller, NULL);
            printf("watching\n");
            fflush(stdout);
            if (!fgets(line, sizeof line, stdin)) line[0] = 0;
            atomic_store(&watch_stop, 1);
            for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
            printf("watch %.0f %ld %ld %ld\n", watch_worst, watch_blocked, watch_calls, watch_failed);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            fprintf(stderr, "cbench tokens: bad command: %s", line);
            return 2;
        }
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv) {
    async_mode = argc == 3 && strcmp(argv[2], "serve-async") == 0;
    int tokens_mode = argc == 3 && strcmp(argv[2], "tokens") == 0;
    int serve_mode = argc == 3 && (strcmp(argv[2], "serve") == 0 || async_mode || tokens_mode);
    if (argc < 2 || (argc > 2 && !serve_mode && strcmp(argv[2], "quick") != 0)) {
        fprintf(stderr, "usage: cbench LIBRARY [quick]\n       cbench LIBRARY serve|serve-async|tokens\n");
        return 2;
    }
    int quick = argc > 2 && strcmp(argv[2], "quick") == 0;
    int token_batches = quick ? 1 : 5;
    long token_calls = quick ? 20000 : 200000;
    int rss_calls = quick ? 300 : 10000;

    /* Loading: dlopen, then the first call, which waits for the Go
     * runtime's initialisation to finish. */
    double rss0 = status_kb("VmRSS");
    double t0 = now_ns();
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    double t1 = now_ns();
    if (!h) {
        fprintf(stderr, "cbench: dlopen %s: %s\n", argv[1], dlerror());
        return 1;
    }
    p_version = sym(h, "zbauth_version");
    p_status_name = sym(h, "zbauth_status_name");
    p_client_new = sym(h, "zbauth_client_new");
    p_client_token = sym(h, "zbauth_client_token");
    p_client_topology = sym(h, "zbauth_client_topology");
    p_client_free = sym(h, "zbauth_client_free");
    p_free = sym(h, "zbauth_free");
    p_client_topology_async = sym(h, "zbauth_client_topology_async");
    p_client_token_nowait = sym(h, "zbauth_client_token_nowait");
    p_error_details = sym(h, "zbauth_error_details");
    (void)p_version(); /* the first call waits for the Go runtime's start */
    double t2 = now_ns();
    double rss1 = status_kb("VmRSS");

    char *err = NULL;
    zbauth_status st = p_client_new(NULL, &client, &err);
    if (st != ZBAUTH_OK) die("zbauth_client_new", st, err);
    if (serve_mode) {
        int rc = tokens_mode ? tokens() : serve();
        p_client_free(client);
        return rc;
    }

    row("library load: dlopen", "ms", (t1 - t0) / 1e6, NULL,
        "dlopen(RTLD_NOW) of libzbauth.so");
    row("library load: dlopen to first call", "ms", (t2 - t0) / 1e6, NULL,
        "dlopen, dlsym and zbauth_version() returning (Go runtime initialised)");
    row("library load: rss added", "MiB", (rss1 - rss0) / 1024, NULL,
        "VmRSS after loading and the first call, minus before");

    /* Cached token: the call and the free of the returned copy. */
    char *tok = NULL;
    for (int i = 0; i < 10000; i++) {
        st = p_client_token(client, &tok, &err);
        if (st != ZBAUTH_OK) die("zbauth_client_token", st, err);
        p_free(tok);
    }
    double batch[16];
    for (int b = 0; b < token_batches; b++) {
        double s = now_ns();
        for (long i = 0; i < token_calls; i++) {
            p_client_token(client, &tok, NULL);
            p_free(tok);
        }
        batch[b] = (now_ns() - s) / (double)token_calls;
    }
    qsort(batch, (size_t)token_batches, sizeof batch[0], cmp_double);
    row("token cached", "ns/call", batch[token_batches / 2], NULL,
        "zbauth_client_token + zbauth_free, one thread; median of the batches of this run");

    /* The same without an allocation: the token copied into a buffer of
     * the caller's (never waits; ZBAUTH_ERR_TIMEOUT if none is cached). */
    {
        char buf[4096];
        size_t len = 0;
        st = p_client_token_nowait(client, buf, sizeof buf, &len, &err);
        if (st != ZBAUTH_OK) die("zbauth_client_token_nowait", st, err);
        for (int b = 0; b < token_batches; b++) {
            double s = now_ns();
            for (long i = 0; i < token_calls; i++) p_client_token_nowait(client, buf, sizeof buf, &len, NULL);
            batch[b] = (now_ns() - s) / (double)token_calls;
        }
        qsort(batch, (size_t)token_batches, sizeof batch[0], cmp_double);
        row("token cached (nowait, caller's buffer)", "ns/call", batch[token_batches / 2], "token cached",
            "zbauth_client_token_nowait into a stack buffer, one thread");
    }

    /* Memory after rss_calls sequential topology calls. */
    for (int i = 0; i < rss_calls; i++) topology_once();
    char name[64];
    if (rss_calls % 1000 == 0)
        snprintf(name, sizeof name, "rss after %dk topology calls", rss_calls / 1000);
    else
        snprintf(name, sizeof name, "rss after %d topology calls", rss_calls);
    char base[96];
    snprintf(base, sizeof base, "go-floor/%s", name);
    row(name, "MiB", status_kb("VmRSS") / 1024, base, "the whole C process, library loaded");
    row("peak rss (VmHWM), same process", "MiB", status_kb("VmHWM") / 1024,
        "go-floor/peak rss (VmHWM), same process", NULL);

    p_client_free(client);
    printf("\n]\n");
    return 0;
}
