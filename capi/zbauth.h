/*
 * zbauth.h — the C interface of libzbauth.
 *
 * libzbauth authenticates to Camunda 8 and calls the Zeebe REST API: with
 * OAuth2 client-credentials tokens (client secret, or a signed client
 * assertion), HTTP Basic credentials, a static bearer token, or none (see
 * zbauth_client_new). All behaviour lives in zbauth's Go core; this header
 * is its stable C contract. It is written by hand: never use the header
 * that cgo generates.
 *
 * PLATFORM
 *   Linux with glibc only: the library uses eventfd and glibc's
 *   PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP. No other target is
 *   built.
 *
 * OWNERSHIP
 *   Every `char *` the library returns through an out-parameter is owned by
 *   the caller and must be released with zbauth_free() (not free()), once.
 *   Strings returned as `const char *` (zbauth_version, zbauth_status_name)
 *   are static: NEVER free them (zbauth_free ignores them, free() corrupts
 *   the heap). Input strings are borrowed for the duration of the call
 *   only.
 *
 * ERRORS
 *   Every fallible function returns a zbauth_status. Its last parameter,
 *   `char **err`, may be NULL; when it is not, *err is set to NULL on
 *   success and to a message (caller frees with zbauth_free) on failure.
 *   Messages never contain a secret of the configuration (the keys marked
 *   secret at zbauth_client_new: the client secret, the Basic password,
 *   the static bearer token, keystore and key passwords), a private key, or
 *   an access token, whether it came from config_json or the environment.
 *   Out-parameters are set to NULL/0 on entry, so they are safe to free
 *   whatever the outcome.
 *
 * THREADS
 *   All functions are thread-safe. One zbauth_client may be shared by any
 *   number of threads; concurrent callers share its token cache and never
 *   make more than one token request at a time. A cached token is returned
 *   without waiting, even while it is being refreshed in the background.
 *   A blocking call holds its thread until the answer arrives; event loops
 *   and programs with many calls in flight use the _async calls instead
 *   (ASYNCHRONOUS CALLS below), which hold no thread of the caller's.
 *
 * HANDLES
 *   A zbauth_client is an opaque handle, not a pointer to memory. Passing a
 *   handle that was freed, or one that was never returned by
 *   zbauth_client_new, returns ZBAUTH_ERR_ARGUMENT; it never crashes.
 *
 * THE GO RUNTIME IN YOUR PROCESS
 *   libzbauth contains the Go runtime, which has rules for host programs:
 *   - Signal handlers installed after the library is loaded must use
 *     SA_ONSTACK (sigaction flags), or a signal arriving on a Go thread
 *     crashes the process. Handlers installed before loading are fixed up by
 *     the runtime.
 *   - Only one Go shared library can be loaded per process. If your process
 *     already loads another one, use the WebAssembly plugin (zbauth.wasm,
 *     see wasm/ABI.md) instead.
 *   - The library cannot be unloaded (dlclose is a no-op for it).
 *   - The runtime does not survive fork(): a child forked after the library
 *     was loaded must not call it (a call there may never return). exec()
 *     in the child is fine.
 */
#ifndef ZBAUTH_H
#define ZBAUTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZBAUTH_VERSION_MAJOR 0
#define ZBAUTH_VERSION_MINOR 1
#define ZBAUTH_VERSION_PATCH 0
#define ZBAUTH_VERSION "0.1.0"

/* Status codes. The numbers are stable; new codes are only ever appended. */
typedef enum zbauth_status {
    ZBAUTH_OK = 0,
    ZBAUTH_ERR_ARGUMENT = 1,  /* NULL or malformed argument; unknown or freed handle */
    ZBAUTH_ERR_CONFIG = 2,    /* missing or malformed configuration */
    ZBAUTH_ERR_AUTH = 3,      /* the token endpoint (or discovery document) refused or answered
                                 unusably; under BASIC, BEARER or NONE, the REST API's 401 */
    ZBAUTH_ERR_API = 4,       /* the REST API answered with an error status (>= 400) */
    ZBAUTH_ERR_TRANSPORT = 5, /* connection, TLS or size-limit failure */
    ZBAUTH_ERR_TIMEOUT = 6,   /* a request timed out */
    ZBAUTH_ERR_INTERNAL = 7   /* a bug in zbauth (a recovered panic) */
} zbauth_status;

/* An authenticated connection to one Camunda 8 cluster. Opaque. */
typedef struct zbauth_client zbauth_client;

/* The library's version, e.g. "0.1.0". Static; do not free. */
const char *zbauth_version(void);

/* The name of a status, e.g. "ZBAUTH_ERR_AUTH"; "ZBAUTH_UNKNOWN" for values
 * outside the enum. Static; do not free. */
const char *zbauth_status_name(zbauth_status s);

/*
 * Creates a client. No network request is made (OpenID discovery, when
 * configured, happens at the first token request).
 *
 * config_json: a JSON object. The one table of every setting, with its
 *   environment variables, meaning and default, is the README's
 *   "Configuration" section (README.md#configuration); its keys here:
 *     where:    rest_address, authorization_server_url, issuer_url,
 *               well_known_configuration_url
 *     strategy: auth_strategy ("OAUTH", "BASIC", "BEARER" or "NONE",
 *               any case); basic_auth_username, basic_auth_password
 *               (BASIC); oauth_token (BEARER: sent as it is, never
 *               renewed)
 *     OAUTH:    client_id, client_secret, audience, scope, resource,
 *               token_auth_method ("client_secret_post",
 *               "client_secret_basic" or "private_key_jwt"),
 *               client_assertion_key_path, client_assertion_cert_path (PEM),
 *               client_assertion_keystore_path,
 *               client_assertion_keystore_password,
 *               client_assertion_keystore_key_alias,
 *               client_assertion_keystore_key_password (PKCS#12)
 *     transport: timeout_ms, token_timeout_ms, ca_certificate_path,
 *               client_certificate_path, client_key_path,
 *               allow_insecure_http, token_cache_dir, max_body_bytes
 *   Values are strings, but allow_insecure_http is a boolean and
 *   max_body_bytes and the *_ms keys are numbers. SECRETS: client_secret, basic_auth_password,
 *   oauth_token, client_assertion_keystore_password and
 *   client_assertion_keystore_key_password. zbauth never echoes them (nor
 *   the key files' contents): no error message or details show them, a
 *   wrong one included.
 *   Without auth_strategy: OAUTH when a client id is set, else BASIC when a
 *   Basic username is, else BEARER when a token is. Without
 *   token_auth_method: private_key_jwt when an assertion key or keystore
 *   is set (then no client secret is needed), else what the discovery
 *   document lists, else client_secret_post. An unknown strategy or
 *   method, or a strategy without what it needs, is ZBAUTH_ERR_CONFIG.
 *   Unknown keys, a document above 1 MiB, strings that are not valid UTF-8
 *   and max_body_bytes above 1 GiB are ZBAUTH_ERR_CONFIG. Fields not given
 *   come from the environment, read with getenv() at this call: the
 *   CAMUNDA_* name first, then the legacy ZEEBE_* one (CAMUNDA_CLIENT_ID,
 *   then ZEEBE_CLIENT_ID; CAMUNDA_OAUTH_URL, then
 *   ZEEBE_AUTHORIZATION_SERVER_URL; CAMUNDA_REST_ADDRESS, then
 *   ZEEBE_REST_ADDRESS or CAMUNDA_CLUSTER_REGION + CAMUNDA_CLUSTER_ID;
 *   CAMUNDA_AUTH_STRATEGY, CAMUNDA_BASIC_AUTH_USERNAME, ...: the README's
 *   table), then from the defaults. NULL or "" means environment only.
 *   Borrowed.
 * out: receives the handle; release it with zbauth_client_free. Required.
 * err: optional; see ERRORS.
 *
 * Returns ZBAUTH_OK, ZBAUTH_ERR_ARGUMENT (out is NULL) or ZBAUTH_ERR_CONFIG
 * (the message names every field at fault, and the variable that sets
 * it; a wrong keystore password included, never its value).
 */
zbauth_status zbauth_client_new(const char *config_json, zbauth_client **out, char **err);

/*
 * Returns a valid access token, from the cache when possible; under
 * BEARER, the configured token. Under BASIC and NONE there is no token:
 * ZBAUTH_ERR_CONFIG, with a message that says so (and names
 * auth_strategy), and no request is made.
 *
 * token: receives the token (without "Bearer "); caller frees with
 *   zbauth_free. Required.
 * err: optional; see ERRORS.
 */
zbauth_status zbauth_client_token(zbauth_client *c, char **token, char **err);

/*
 * Returns the cached token without ever waiting: for event loops and other
 * threads that must not block. Never touches the network on the calling
 * thread.
 *
 * buf, cap: the caller's buffer; the token is copied in, NUL-terminated.
 * len: optional; receives the token's length (without the NUL), also when
 *   buf is too small.
 * err: optional; see ERRORS.
 *
 * Returns ZBAUTH_OK with the token in buf; ZBAUTH_ERR_TIMEOUT when no token
 * is cached yet, after starting the token request in the background (call
 * zbauth_client_token from another thread to wait for it, or try again
 * later); ZBAUTH_ERR_AUTH with the remembered refusal while its cooldown
 * lasts; ZBAUTH_ERR_CONFIG under BASIC and NONE, as zbauth_client_token;
 * ZBAUTH_ERR_ARGUMENT when buf is too small (see *len) or the handle
 * is invalid. A token in its refresh window is returned at once while a
 * background request renews it, as with zbauth_client_token.
 */
zbauth_status zbauth_client_token_nowait(zbauth_client *c, char *buf, size_t cap, size_t *len, char **err);

/*
 * Fetches the topology and returns it as JSON with the REST API's own
 * field names: {"brokers":[{"nodeId","host","port","version",
 * "partitions":[{"partitionId","role","health"}]}],"clusterSize",
 * "partitionsCount","replicationFactor","gatewayVersion",
 * "lastCompletedChangeId","clusterId"}. The last two are strings that
 * only a /v2 answer (Camunda 8.8+) has; they are absent after a /v1 one.
 * The endpoint: GET /v2/topology or /v1/topology when rest_address ends in
 * /v2 or /v1; otherwise /v1/topology, and after a 404 there /v2/topology,
 * from then on for this client.
 *
 * topology_json: receives the JSON; caller frees with zbauth_free. Required.
 * err: optional; see ERRORS.
 */
zbauth_status zbauth_client_topology(zbauth_client *c, char **topology_json, char **err);

/*
 * Makes an authenticated request to the REST API. Under OAUTH, on a 401
 * the library fetches a new token and retries once; under BASIC, BEARER
 * and NONE nothing can be renewed, and a 401 is ZBAUTH_ERR_AUTH (with
 * http_status and response_body filled in).
 *
 * method: "GET", "POST", ... Required. Borrowed.
 * path: relative to the REST address, e.g. "/v2/topology". When
 *   rest_address ends in /v1 or /v2, a path without a version gets that
 *   one ("/topology"), and one with a version is not doubled. Absolute
 *   URLs are refused. Required. Borrowed.
 * body_json: the JSON request body, or NULL for none. Borrowed.
 * http_status: optional; receives the HTTP status, or 0 when no response
 *   arrived.
 * response_body: optional; receives the response body (also on
 *   ZBAUTH_ERR_API, where it holds the problem document); caller frees
 *   with zbauth_free. NULL when no response arrived.
 * err: optional; see ERRORS.
 *
 * A status >= 400 returns ZBAUTH_ERR_API, with http_status and
 * response_body filled in.
 */
zbauth_status zbauth_client_request(zbauth_client *c, const char *method, const char *path,
                                    const char *body_json, int *http_status,
                                    char **response_body, char **err);

/*
 * ASYNCHRONOUS CALLS
 *
 * For event loops and for programs with many calls in flight: the _async
 * functions start a call and return at once, without waiting for the
 * network; the result arrives through a callback. No thread of the caller
 * is held while the call is in flight (a blocking call from many threads
 * holds each of them; see docs/capi-calls.md).
 *
 * On ZBAUTH_OK the call has started and cb is called exactly once, later,
 * on a thread of the library's own (never from within the _async call).
 * On any other status the call did not start, cb is never called, and
 * *err (when err is not NULL) holds the reason.
 *
 * cb receives:
 *   user_data    the pointer given to the _async call, untouched.
 *   status       the call's status, as the blocking call would return it.
 *   http_status  for zbauth_client_request_async, as zbauth_client_request
 *                reports it; 0 otherwise.
 *   result       the token, the topology JSON or the response body, or
 *                NULL. Owned by the callback: free it with zbauth_free.
 *   err          the error message, or NULL. Owned by the callback: free it
 *                with zbauth_free (zbauth_error_details works on it until
 *                then).
 * The callback should return promptly: it runs on a thread that serves
 * other calls. The callbacks of token calls that waited for the same token
 * request run one after another on one thread, after the blocking calls
 * waiting for it have been given theirs. A callback may call any function
 * of this library.
 *
 * zbauth_client_free does not wait for calls in flight; they finish
 * normally and their callbacks are still called.
 */
typedef void (*zbauth_callback)(void *user_data, zbauth_status status, int http_status,
                                char *result, char *err);

/* zbauth_client_token, asynchronously. cb is required. */
zbauth_status zbauth_client_token_async(zbauth_client *c, zbauth_callback cb, void *user_data,
                                        char **err);

/* zbauth_client_topology, asynchronously. cb is required. */
zbauth_status zbauth_client_topology_async(zbauth_client *c, zbauth_callback cb, void *user_data,
                                           char **err);

/* zbauth_client_request, asynchronously. method, path and body_json are
 * borrowed for the duration of this call only (they are copied). cb is
 * required. */
zbauth_status zbauth_client_request_async(zbauth_client *c, const char *method, const char *path,
                                          const char *body_json, zbauth_callback cb,
                                          void *user_data, char **err);

/*
 * COMPLETION QUEUES
 *
 * For event loops that watch file descriptors, and for languages whose
 * callbacks are costly on a foreign thread (Python's ctypes takes the GIL
 * for each): a _queued call is an _async call whose outcome, instead of a
 * callback, goes on a queue, and the queue's file descriptor becomes
 * readable. The loop takes the outcomes on its own thread.
 *
 *   zbauth_queue *q;
 *   zbauth_queue_new(&q, &err);
 *   zbauth_client_topology_queued(c, q, 42, &err);   // tag 42: yours
 *   ... poll(zbauth_queue_fd(q)) says readable ...
 *   zbauth_completion done[16];
 *   size_t n;
 *   zbauth_queue_take(q, done, 16, &n);
 *   ... done[i].tag == 42, .status, .result (free with zbauth_free) ...
 *
 * The descriptor (Linux: an eventfd) is readable while outcomes wait, or
 * just after the last was taken (a spurious wake-up: take finds none). It
 * belongs to the queue: never read, write or close it. A queue handle, like
 * a client handle, is an id: a freed or forged one is refused with
 * ZBAUTH_ERR_ARGUMENT, never a crash. Any thread may use a queue; a queue
 * is meant for one event loop.
 */
typedef struct zbauth_queue zbauth_queue;

/* One outcome: the arguments zbauth_callback would have received, and the
 * tag given to the _queued call. result and err are owned by whoever took
 * the completion: free them with zbauth_free. */
typedef struct zbauth_completion {
    uint64_t tag;
    zbauth_status status;
    int http_status;
    char *result;
    char *err;
} zbauth_completion;

/* Creates a queue; free it with zbauth_queue_free. */
zbauth_status zbauth_queue_new(zbauth_queue **q, char **err);

/* The queue's file descriptor, to watch for reading; -1 for an invalid
 * handle. Valid until zbauth_queue_free. */
int zbauth_queue_fd(zbauth_queue *q);

/* Moves up to max waiting outcomes, oldest first, into out[0..*taken) and
 * makes the descriptor unreadable once none is left. Never waits.
 * ZBAUTH_ERR_ARGUMENT for an invalid handle or a NULL out or taken. */
zbauth_status zbauth_queue_take(zbauth_queue *q, zbauth_completion *out, size_t max,
                                size_t *taken);

/* Frees the queue and the outcomes not yet taken (their strings too).
 * Calls still in flight finish; their outcomes are dropped. Stop watching
 * the descriptor first: it is closed when the last call in flight is done,
 * possibly later, on a library thread, and its number may then be reused.
 * Harmless on NULL and on a handle already freed. */
void zbauth_queue_free(zbauth_queue *q);

/* The _async calls, with a queue: on ZBAUTH_OK exactly one completion
 * carrying tag will be queued (unless the queue is freed first); on any
 * other status none will. The queue handle is checked first, then the
 * arguments as in the _async call. */
zbauth_status zbauth_client_token_queued(zbauth_client *c, zbauth_queue *q, uint64_t tag,
                                         char **err);
zbauth_status zbauth_client_topology_queued(zbauth_client *c, zbauth_queue *q, uint64_t tag,
                                            char **err);
/* method, path and body_json are borrowed for the duration of this call. */
zbauth_status zbauth_client_request_queued(zbauth_client *c, const char *method, const char *path,
                                           const char *body_json, zbauth_queue *q, uint64_t tag,
                                           char **err);

/*
 * Structured details of an error message, for bindings that map errors to
 * their own types.
 *
 * err: an error message returned by any function of this library and not
 *   yet released with zbauth_free. Borrowed.
 * details_json: receives {"kind": 3, "code": "AUTH", "op": "token",
 *   "message": "...", "msg": "...", "status": 401,
 *   "oauth_error": "...", "oauth_error_description": "...",
 *   "problem": {"type","title","status","detail","instance"},
 *   "fields": ["client_id", ...], "cause": "..."}; absent members were not
 *   given. "message" is the complete text (err's text), "msg" the
 *   message without the details that follow it, "cause" the underlying
 *   cause's text. The Wasm plugin's error payload has the same members
 *   (wasm/ABI.md). Caller frees with zbauth_free. Required.
 *
 * Returns ZBAUTH_ERR_ARGUMENT when err is not such a live message.
 */
zbauth_status zbauth_error_details(const char *err, char **details_json);

/* Releases a client and its connections. Harmless on NULL and on a handle
 * already freed. Calls in progress on other threads finish normally. */
void zbauth_client_free(zbauth_client *c);

/*
 * Releases a string the library handed over with ownership: a `char *`
 * out-parameter, or a callback's or a queue outcome's result or err.
 * Harmless on NULL, and on the static strings of zbauth_version and
 * zbauth_status_name (it leaves them alone).
 *
 * NEVER pass anything else: a string you allocated, a string literal, a
 * pointer into a string, or one already freed. zbauth_free is free() for
 * those, and they corrupt the heap.
 */
void zbauth_free(char *s);

#ifdef __cplusplus
}
#endif

#endif /* ZBAUTH_H */
