'use strict';
// zbauth for Node.js: a thin layer over libzbauth (zbauth's Go core behind
// a C ABI). This file and the addon (src/addon.c) only convert arguments,
// results and errors; every behaviour (configuration, token caching,
// retries, error classification) lives in the library.

const path = require('node:path');

/** The error codes, indexed by the library's status numbers. */
const CODES = ['OK', 'ARGUMENT', 'CONFIG', 'AUTH', 'API', 'TRANSPORT', 'TIMEOUT', 'INTERNAL'];

class ZbauthError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = 'ZbauthError';
    this.code = code;
    if (details) {
      for (const [k, v] of Object.entries(details)) {
        if (v !== undefined) this[k] = v;
      }
    }
  }
}

const str = (v) => (typeof v === 'string' ? v : undefined);

// makeError is called by the addon for every rejection and throw, with the
// library's status and message, the library's structured details
// (zbauth_error_details, as JSON, or null) and, for request(), the response
// body (or null). It only renames: the library has parsed everything.
function makeError(status, message, detailsJSON, body) {
  let d = {};
  if (detailsJSON) {
    try {
      d = JSON.parse(detailsJSON) || {};
    } catch {
      d = {};
    }
  }
  // A status newer than this package keeps the library's own name for it.
  const code = CODES[status] || str(d.code) || 'INTERNAL';
  const details = {};
  if (Number.isInteger(d.status)) details.status = d.status;
  if (code === 'CONFIG' && Array.isArray(d.fields)) details.fields = d.fields.filter((f) => typeof f === 'string');
  if (code === 'AUTH') {
    details.oauthError = str(d.oauth_error);
    details.oauthErrorDescription = str(d.oauth_error_description);
  }
  if (d.problem && typeof d.problem === 'object' && !Array.isArray(d.problem)) {
    details.problem = d.problem;
    details.title = str(d.problem.title);
    details.detail = str(d.problem.detail);
  }
  const e = new ZbauthError(code, message, details);
  // The raw response body is the server's text, which may repeat what the
  // client sent it (its token): readable, but not enumerable, so that
  // logging or serialising the error does not show it.
  if (typeof body === 'string') {
    Object.defineProperty(e, 'text', { value: body, enumerable: false, writable: true, configurable: true });
  }
  return e;
}


let native = null;
let libVersion = null;

// load finds the addon and the library when first needed (the first Client):
// requiring zbauth alone starts no Go runtime.
function load() {
  if (native) return native;
  const dir = path.join(__dirname, 'prebuilds', `${process.platform}-${process.arch}`);
  const addonPath = path.join(dir, 'zbauth.node');
  let addon;
  try {
    addon = require(addonPath);
  } catch (e) {
    throw new ZbauthError('CONFIG',
      `zbauth: cannot load the native addon: looked for ${addonPath} ` +
      `(this package has no build for ${process.platform}-${process.arch}?): ${e.message}`);
  }
  const fromEnv = process.env.ZBAUTH_LIBRARY;
  // libzbauth is built for Linux (glibc) only (capi/zbauth.h).
  const libPath = fromEnv || path.join(dir, 'libzbauth.so');
  const where = fromEnv ? `${libPath} (from ZBAUTH_LIBRARY)` : `${libPath} (inside the package; set ZBAUTH_LIBRARY to use another)`;
  try {
    libVersion = addon.init(libPath, makeError);
  } catch (e) {
    throw new ZbauthError('CONFIG', `zbauth: cannot load libzbauth: looked at ${where}: ${e.message}`);
  }
  // The Go runtime in libzbauth needs SA_ONSTACK on every signal handler
  // installed after it loaded. Node installs one when the first listener
  // for a signal is added; Node's own 'newListener' hook runs before this
  // one (it was registered at startup), so the handler exists by now.
  addon.fixSignals();
  process.on('newListener', function zbauthFixSignals(event) {
    if (typeof event === 'string' && event.startsWith('SIG')) addon.fixSignals();
  });
  native = addon;
  return native;
}

// Options → the library's JSON config. The library alone validates
// configuration (unknown keys, types, ranges, and what its messages may
// quote), so every key reaches it: a camelCase name spelled the library's
// way (`restAddress` → `rest_address`), any other key (a typo, a snake_case
// name, a key the library does not know) as it was written. A key that
// repeats a string option value (a secret typed as a key) is passed as
// written too, so that the library recognises it and never quotes it.
// Only what JSON cannot carry is refused here, as the library could never
// see it: a function, a symbol, NaN or an infinity would be dropped or
// turned into null, silently unsetting the option. undefined means "not
// given", as in the types.
const CAMEL = /^[a-z][a-zA-Z0-9]*$/;

// The library's own settings (ClientOptions in index.d.ts) are always
// spelled its way, whatever their values hold: a discovery URL ends in
// ".well-known/openid-configuration", which repeats part of the name
// wellKnownConfigurationUrl. The library knows these names, so it never
// reports them as unknown keys.
const OPTIONS = new Set([
  'authStrategy', 'clientId', 'clientSecret', 'authorizationServerUrl', 'issuerUrl', 'wellKnownConfigurationUrl',
  'audience', 'scope', 'resource', 'tokenAuthMethod', 'clientAssertionKeyPath', 'clientAssertionCertPath',
  'clientAssertionKeystorePath', 'clientAssertionKeystorePassword', 'clientAssertionKeystoreKeyAlias',
  'clientAssertionKeystoreKeyPassword', 'basicAuthUsername', 'basicAuthPassword', 'oauthToken', 'restAddress',
  'timeoutMs', 'tokenTimeoutMs', 'caCertificatePath', 'clientCertificatePath', 'clientKeyPath', 'allowInsecureHttp',
  'tokenCacheDir', 'maxBodyBytes',
]);

// Whether name repeats a string option value, whole or any 8 characters of
// it: the rule the library applies to the keys it quotes.
function repeatsValue(name, options) {
  for (const v of Object.values(options)) {
    if (typeof v !== 'string' || v.length < 4) continue;
    for (let i = 0; i === 0 || i + 8 <= v.length; i++) {
      if (name.includes(v.length <= 8 ? v : v.slice(i, i + 8))) return true;
    }
  }
  return false;
}

function configKey(name, options) {
  if (!OPTIONS.has(name) && (!CAMEL.test(name) || repeatsValue(name, options))) return name;
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

// An option's name in this file's own messages, by the same rule.
const optionLabel = (name, options) => (!OPTIONS.has(name) && repeatsValue(name, options) ? 'an option' : `option ${name}`);

function configJSON(options) {
  if (options === undefined || options === null) return null;
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new ZbauthError('ARGUMENT', 'zbauth: options must be an object');
  }
  const pairs = [];
  const seen = new Map(); // library key → option name
  for (const [name, v] of Object.entries(options)) {
    if (v === undefined) continue;
    const key = configKey(name, options);
    if (seen.has(key)) {
      const [a, b] = [optionLabel(seen.get(key), options), optionLabel(name, options)];
      throw new ZbauthError('ARGUMENT', `zbauth: ${a} and ${b} name the same setting`);
    }
    seen.set(key, name);
    let json;
    if (typeof v === 'bigint') {
      json = v.toString(); // a JSON number, exactly
    } else if (typeof v !== 'number' || Number.isFinite(v)) {
      try {
        json = JSON.stringify(v);
      } catch {
        json = undefined;
      }
    }
    if (json === undefined) {
      const what = typeof v === 'number' ? String(v) : typeof v === 'object' ? 'its value' : `a ${typeof v}`;
      throw new ZbauthError('ARGUMENT', `zbauth: ${optionLabel(name, options)}: ${what} cannot be passed on as JSON`);
    }
    pairs.push(JSON.stringify(key) + ':' + json);
  }
  return '{' + pairs.join(',') + '}';
}

function closedError(op) {
  return new ZbauthError('ARGUMENT', `zbauth: ${op}: client is closed`);
}

class Client {
  #handle;
  #closed = false;
  #token = ''; // the last token the addon returned synchronously
  // The token call in flight, if any. The calls made meanwhile share it,
  // so that a cold burst is one call into the addon: the library would
  // hand them the same outcome (its core makes one token request for them
  // all, and decides everything about the token), and each call into the
  // library and back costs more than the caller's wait (docs/token-cache.md).
  #pending = null;

  constructor(options) {
    const n = load();
    this.#handle = n.clientNew(configJSON(options));
  }

  token() {
    if (this.#closed) return Promise.reject(closedError('token'));
    if (this.#pending) return this.#pending;
    let r;
    try {
      r = native.token(this.#handle);
    } catch (e) {
      return Promise.reject(e);
    }
    if (r === true) return Promise.resolve(this.#token); // unchanged since last time
    if (typeof r === 'string') {
      this.#token = r;
      return Promise.resolve(r);
    }
    // Cleared before the callers' own reactions run (p settles after its
    // handlers), so that a call made from one of them asks the library
    // again. p, not r, is handed out: a handler on r would mark a failure
    // nobody handles as handled, where it must surface as an unhandled
    // rejection.
    const p = r.then(
      (tok) => {
        if (this.#pending === p) this.#pending = null;
        return tok;
      },
      (e) => {
        if (this.#pending === p) this.#pending = null;
        throw e;
      },
    );
    this.#pending = p;
    return p;
  }

  topology() {
    if (this.#closed) return Promise.reject(closedError('topology'));
    try {
      return native.topology(this.#handle);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  request(method, path, body) {
    if (this.#closed) return Promise.reject(closedError('request'));
    if (typeof method !== 'string' || typeof path !== 'string') {
      return Promise.reject(new ZbauthError('ARGUMENT', 'zbauth: request: method and path must be strings'));
    }
    let json = null;
    if (body !== undefined) {
      try {
        json = JSON.stringify(body);
      } catch (e) {
        return Promise.reject(new ZbauthError('ARGUMENT', `zbauth: request: body cannot be serialised as JSON: ${e.message}`));
      }
      if (json === undefined) {
        return Promise.reject(new ZbauthError('ARGUMENT', 'zbauth: request: body cannot be serialised as JSON'));
      }
    }
    try {
      return native.request(this.#handle, method, path, json);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  get closed() {
    return this.#closed;
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    native.clientFree(this.#handle);
  }
}

/** The library's version, e.g. "0.1.0". Loads the library. */
function version() {
  load();
  return libVersion;
}

/** The path libzbauth was loaded from. Loads the library. */
function libraryPath() {
  return load().libraryPath();
}

module.exports = { Client, ZbauthError, version, libraryPath };
// For the binding's own tests and benchmark; not part of the API.
Object.defineProperty(module.exports, Symbol.for('zbauth.internal'), {
  value: { makeError, features: () => load().features(), options: [...OPTIONS] },
});
