// Type declarations for zbauth, the Node binding of libzbauth.
// Written by hand; keep in step with index.js.

/**
 * Options for {@link Client}. They mirror the library's configuration in
 * camelCase. Any field not given comes from the environment as it is when
 * the client is created (the Camunda 8.7+ `CAMUNDA_*` name first, then the
 * legacy `ZEEBE_*` one: `CAMUNDA_CLIENT_ID`, `ZEEBE_CLIENT_ID`,
 * `CAMUNDA_CLIENT_SECRET`, `CAMUNDA_OAUTH_URL`, `ZEEBE_REST_ADDRESS` or
 * `CAMUNDA_CLUSTER_REGION` + `CAMUNDA_CLUSTER_ID`, `CAMUNDA_AUTH_STRATEGY`,
 * `CAMUNDA_BASIC_AUTH_USERNAME`, ...; the repository README has the
 * table), then from the defaults (Camunda SaaS).
 *
 * The library validates them. camelCase names are passed on in its
 * snake_case spelling (`restAddress` → `rest_address`), any other key as
 * written; the library refuses unknown ones with a `CONFIG` error, and so
 * an unknown strategy or method, or a strategy without what it needs. A
 * value JSON cannot carry (a function, a symbol, `NaN`, an infinity) is an
 * `ARGUMENT` error; `undefined` means not given.
 *
 * The client keeps none of the options: the secrets (`clientSecret`,
 * `basicAuthPassword`, `oauthToken`, the keystore passwords) go to the
 * library, and no error, `util.inspect` or `JSON.stringify` of the client
 * shows them.
 */
export interface ClientOptions {
  /**
   * How REST calls authenticate: `OAUTH` (a token from the token endpoint),
   * `BASIC` (HTTP Basic credentials on every call), `BEARER`
   * ({@link oauthToken} on every call, never refreshed) or `NONE` (no
   * `Authorization` header); case-insensitive. Unset: `OAUTH` when a client
   * id is set, `BASIC` when a Basic user name is.
   */
  authStrategy?: 'OAUTH' | 'BASIC' | 'BEARER' | 'NONE' | (string & {});
  /** OAuth2 client id. */
  clientId?: string;
  /** OAuth2 client secret. Never appears in error messages. */
  clientSecret?: string;
  /** The token endpoint. Default: `https://login.cloud.camunda.io/oauth/token`. */
  authorizationServerUrl?: string;
  /**
   * The OpenID issuer: the token endpoint is read from
   * `{issuerUrl}/.well-known/openid-configuration` (once per client, with
   * the first token).
   */
  issuerUrl?: string;
  /** The OpenID discovery document's own URL, instead of {@link issuerUrl}. */
  wellKnownConfigurationUrl?: string;
  /** The token audience. Default: `zeebe.camunda.io`. */
  audience?: string;
  /** The token scope, if the identity provider needs one. */
  scope?: string;
  /** The token's resource indicator (RFC 8707), if the identity provider needs one. */
  resource?: string;
  /**
   * How the client authenticates at the token endpoint. Unset:
   * `private_key_jwt` when a client-assertion key or keystore is given,
   * else what the discovery document prefers, else `client_secret_post`.
   */
  tokenAuthMethod?: 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt' | (string & {});
  /** `private_key_jwt`: the PEM private key that signs the client assertion. */
  clientAssertionKeyPath?: string;
  /** `private_key_jwt`: the PEM certificate of {@link clientAssertionKeyPath} (its thumbprint goes in the assertion). */
  clientAssertionCertPath?: string;
  /** `private_key_jwt`: a PKCS#12 keystore holding the key and its certificate instead. */
  clientAssertionKeystorePath?: string;
  /** The keystore's password. A wrong one is a `CONFIG` error that does not show it. */
  clientAssertionKeystorePassword?: string;
  /** The key's alias in the keystore. */
  clientAssertionKeystoreKeyAlias?: string;
  /** The key's own password, when it differs from the keystore's. */
  clientAssertionKeystoreKeyPassword?: string;
  /** `BASIC`: the user name. */
  basicAuthUsername?: string;
  /** `BASIC`: the password. Never appears in error messages. */
  basicAuthPassword?: string;
  /** `BEARER`: the token sent on every call. Never appears in error messages. */
  oauthToken?: string;
  /**
   * The cluster's REST address, e.g. `https://bru-2.zeebe.camunda.io/<cluster-id>`.
   * Ending in `/v1` or `/v2`, it names the API version.
   */
  restAddress?: string;
  /**
   * Bound on every HTTP request, and on getting a token with all its
   * retries, in milliseconds. Default: 10000.
   */
  timeoutMs?: number;
  /** Bound on getting a token, in milliseconds, when it should differ from {@link timeoutMs}. */
  tokenTimeoutMs?: number;
  /** A PEM file of CA certificates trusted in addition to the system's. */
  caCertificatePath?: string;
  /** A PEM certificate presented for mutual TLS (with {@link clientKeyPath}). */
  clientCertificatePath?: string;
  /** The PEM key of {@link clientCertificatePath}. */
  clientKeyPath?: string;
  /**
   * Permits plain `http://` to a host other than loopback. Without it such
   * a configuration is refused: the secret and the tokens would cross the
   * network readable.
   */
  allowInsecureHttp?: boolean;
  /** Keeps tokens on disk in this directory, shared between processes. The secret is never written. */
  tokenCacheDir?: string;
  /** Cap on REST API response bodies, in bytes. Default: 16 MiB; at most 1 GiB (more is a CONFIG error). */
  maxBodyBytes?: number;
}

/** One partition as a broker sees it. */
export interface Partition {
  partitionId: number;
  /** `"leader"`, `"follower"` or `"inactive"`. */
  role: string;
  /** `"healthy"`, `"unhealthy"` or `"dead"`. */
  health: string;
}

/** One broker of the cluster. */
export interface Broker {
  nodeId: number;
  host: string;
  port: number;
  version: string;
  partitions: Partition[];
}

/** The answer of `GET /v1/topology` or `/v2/topology`, with the REST API's own field names. */
export interface Topology {
  brokers: Broker[];
  clusterSize: number;
  partitionsCount: number;
  replicationFactor: number;
  gatewayVersion: string;
  /** From `/v2/topology` (Camunda 8.8+); `""` from a v1 answer. */
  lastCompletedChangeId: string;
  /** From `/v2/topology` (Camunda 8.8+); `""` from a v1 answer. */
  clusterId: string;
}

/** The answer of {@link Client.request} when its status is below 400. */
export interface Response<T = unknown> {
  /** The HTTP status. */
  status: number;
  /**
   * The response body: parsed when it is JSON, the text as it came when it
   * is not, `null` when it is empty.
   */
  body: T;
}

/**
 * What failed, as the library classifies it:
 * - `ARGUMENT`: a malformed argument, or a closed client;
 * - `CONFIG`: missing or malformed configuration (also: the native library
 *   could not be loaded);
 * - `AUTH`: the token endpoint refused or answered unusably;
 * - `API`: the REST API answered with a status of 400 or more;
 * - `TRANSPORT`: the request did not complete (DNS, TCP, TLS, size limit);
 * - `TIMEOUT`: a request timed out;
 * - `INTERNAL`: a bug in zbauth.
 */
export type ZbauthErrorCode =
  | 'ARGUMENT'
  | 'CONFIG'
  | 'AUTH'
  | 'API'
  | 'TRANSPORT'
  | 'TIMEOUT'
  | 'INTERNAL';

/**
 * The only error zbauth throws or rejects with. Its message is the
 * library's, and never contains the client secret or an access token. The
 * other properties are the library's structured details, present when they
 * apply.
 */
export class ZbauthError extends Error {
  readonly name: 'ZbauthError';
  /** What failed (a library newer than this package may add codes). */
  readonly code: ZbauthErrorCode;
  /** `AUTH` and `API` errors: the HTTP status of the answer, when there was one. */
  readonly status?: number;
  /** `CONFIG` errors: the configuration keys at fault, e.g. `["client_id", "rest_address"]`. */
  readonly fields?: string[];
  /** `AUTH` errors: the token endpoint's `error` (RFC 6749 §5.2), when it sent one. */
  readonly oauthError?: string;
  /** `AUTH` errors: the token endpoint's `error_description`, when it sent one. */
  readonly oauthErrorDescription?: string;
  /** `API` errors: the problem document (RFC 9457) the API sent, when it sent one. */
  readonly problem?: { type?: string; title?: string; status?: number; detail?: string; instance?: string };
  /** `API` errors: the problem document's title. */
  readonly title?: string;
  /** `API` errors: the problem document's detail. */
  readonly detail?: string;
  /**
   * `API` errors from {@link Client.request}: the response body as it came.
   * Not enumerable (it is the server's text, which may repeat the token):
   * logging or serialising the error does not show it.
   */
  readonly text?: string;
}

/**
 * An authenticated connection to one Camunda 8 cluster. Share one per set
 * of credentials: it holds the token cache (concurrent callers share one
 * token request) and a keep-alive connection pool.
 *
 * Every call that may touch the network runs off the main thread, so the
 * event loop never waits on I/O.
 */
export class Client {
  /**
   * Creates a client; makes no network request. The first client loads the
   * native library (from inside this package, or from `ZBAUTH_LIBRARY`).
   *
   * @param options configuration; without it, everything comes from the
   *   environment.
   * @throws {ZbauthError} `CONFIG` for missing or malformed configuration
   *   (the message names every field at fault, or says where the library
   *   was looked for); `ARGUMENT` when options is not an object, holds a
   *   value JSON cannot carry, or names one setting twice (`clientId` and
   *   `client_id`).
   */
  constructor(options?: ClientOptions | null);

  /**
   * A valid access token (without `"Bearer "`), from the cache when
   * possible. Concurrent callers share one token request: the calls made
   * while one waits for it return the same promise. Under the `BASIC` and
   * `NONE` strategies there is none: it rejects with a `CONFIG` error
   * (`fields: ["auth_strategy"]`) saying so. Under `BEARER` it is
   * {@link ClientOptions.oauthToken}.
   */
  token(): Promise<string>;

  /**
   * Fetches `GET /v1/topology` (or `/v2/topology`, when the REST address
   * names v2 or after /v1 answered 404). A status of 400 or more rejects with an
   * `API` error carrying `status`, `title`, `detail` and `problem`.
   */
  topology(): Promise<Topology>;

  /**
   * Makes an authenticated request to the REST API. On a 401 the library
   * fetches a new token and retries once. A status of 400 or more rejects
   * with an `API` error carrying `status`, `title`, `detail`, `problem` and
   * `text`.
   *
   * @param method `"GET"`, `"POST"`, ...
   * @param path relative to the REST address, e.g. `"/v2/topology"`;
   *   absolute URLs are refused (`ARGUMENT`).
   * @param body any value `JSON.stringify` accepts, sent as the JSON request
   *   body; omitted (or `undefined`): no body.
   */
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<Response<T>>;

  /** Whether {@link close} was called. */
  readonly closed: boolean;

  /**
   * Releases the client and its connections. Calls already running finish;
   * later calls reject with an `ARGUMENT` error. Safe to call more than
   * once. A client that is never closed is released when it is garbage
   * collected.
   */
  close(): void;
}

/** The native library's version, e.g. `"0.1.0"`. Loads the library. */
export function version(): string;

/** The path the native library was loaded from. Loads the library. */
export function libraryPath(): string;
