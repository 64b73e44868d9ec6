// A second host for zbauth.wasm, written from wasm/ABI.md alone: Node's
// built-in WASI (node:wasi) runs the module, and the zbauth_host imports
// are implemented here with Node's fetch. It proves that the ABI does not
// depend on wazero or Go, and it is small on purpose: no memory limit, no
// trap recovery, no watchdog (see wasm/host for a complete host).
//
// JavaScript is single-threaded and the module's exports never block, so
// the request/response state machine maps onto promises: an operation
// export returns at once; the HTTP requests it issued are performed with
// fetch while the event loop runs; each answer is delivered with
// zb_http_done, during which the guest finishes operations and reports
// them through call_done.

import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';

export const ABI_VERSION = 3;
export const KIND_NAMES = ['OK', 'ARGUMENT', 'CONFIG', 'AUTH', 'API', 'TRANSPORT', 'TIMEOUT', 'INTERNAL'];

const START_OK = 0, START_REFUSED = 1, START_INVALID = 2;
const FAIL_TRANSPORT = 1, FAIL_TIMEOUT = 2, FAIL_TOO_LARGE = 3;

/** An error reported by the plugin: kind is the core.Kind number. */
export class ZbauthError extends Error {
  constructor(info) {
    super(info.message || info.msg || 'zbauth error');
    this.name = 'ZbauthError';
    this.kind = info.kind;
    this.kindName = info.code || KIND_NAMES[info.kind] || String(info.kind);
    this.op = info.op;
    this.status = info.status || 0;
    this.oauthError = info.oauth_error;
    this.oauthErrorDescription = info.oauth_error_description;
    this.problem = info.problem;
    this.fields = info.fields;
    this.response = info.response;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function originOf(raw) {
  let u;
  try { u = new URL(raw); } catch { return null; }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || !u.hostname) return null;
  const port = u.port || (u.protocol === 'http:' ? '80' : '443');
  return `${u.protocol}//${u.hostname.toLowerCase()}:${port}`;
}

// The body of res as it arrives, or null once it passes limit bytes (then
// the rest is not read). A declared Content-Length above limit is refused
// unread; a smaller one is not trusted either.
async function readLimited(res, limit) {
  if (Number(res.headers.get('content-length')) > limit) {
    await res.body?.cancel().catch(() => {});
    return null;
  }
  const chunks = [];
  let n = 0;
  if (res.body) {
    for await (const chunk of res.body) { // leaving the loop cancels the stream
      n += chunk.length;
      if (n > limit) return null;
      chunks.push(chunk);
    }
  }
  const body = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) { body.set(c, off); off += c.length; }
  return body;
}

export class Plugin {
  /**
   * Loads zbauth.wasm. env is the guest's environment (ZEEBE_*, CAMUNDA_*
   * ...). preopens is passed to node:wasi as it is ({guest path: host
   * directory}): the guest has no files without it. private_key_jwt needs
   * the directory of the client assertion's key, certificate or keystore
   * granted, and the configuration naming them by their guest paths (mount
   * a directory at its own path and the host's paths work unchanged). A
   * preopened directory is readable as a whole, subdirectories included:
   * grant one holding only those files. Relative paths are resolved
   * against the guest's PWD, or else the first preopen.
   */
  static async load(path, { env = {}, preopens = {} } = {}) {
    const bytes = path instanceof Uint8Array ? path : await readFile(path); // a path, or the module's bytes

    const p = new Plugin();
    const wasi = new WASI({ version: 'preview1', env, args: [], preopens, returnOnExit: true });
    const { instance } = await WebAssembly.instantiate(bytes, {
      wasi_snapshot_preview1: wasi.wasiImport,
      zbauth_host: {
        http_start: (...a) => p.#httpStart(...a),
        http_abort: (req) => p.#httpAbort(req),
        call_done: (call, status, ptr, len) => p.#callDone(call, status, ptr, len),
        // A host may keep a copy of each client's cached token; this small
        // host does not, and every token() enters the module.
        token_report: () => {},
      },
    });
    wasi.initialize(instance); // runs _initialize: the Go runtime starts
    // Every export call is counted (stats.exportCalls): an idle instance makes none.
    p.#ex = {};
    for (const [name, v] of Object.entries(instance.exports)) {
      p.#ex[name] = typeof v !== 'function' ? v : (...a) => { p.stats.exportCalls++; return v(...a); };
    }
    const v = p.#ex.zb_abi_version();
    if (v !== ABI_VERSION) throw new Error(`zbauth.wasm speaks ABI version ${v}, this host ${ABI_VERSION}`);
    return p;
  }

  #ex;
  #nextCall = 0;
  #calls = new Map();   // call id → {resolve, reject, decode}
  #reqs = new Map();    // req id → {client, method, url, headers, body, maxBody, timeoutMs, controller}
  #started = [];        // accepted during the current export
  #origins = new Map(); // guest client handle → Set of origins
  #discovery = new Map(); // guest client handle → its discovery document's URL
  #wakeTimer = null;
  stats = { httpRequests: 0, refused: 0, exportCalls: 0, steps: 0 };

  // --- memory ---------------------------------------------------------
  #view(ptr, len) {
    const buf = this.#ex.memory.buffer; // re-read: growing memory replaces it
    if (len < 0 || ptr < 0 || ptr + len > buf.byteLength) return null;
    return new Uint8Array(buf, ptr, len);
  }

  /** Writes parts into one zb_alloc buffer; calls fn(ptrs); frees it. */
  #withArgs(parts, fn) {
    const total = parts.reduce((n, b) => n + b.length, 0);
    const base = total > 0 ? this.#ex.zb_alloc(total) : 0;
    if (total > 0 && base === 0) throw new Error('zb_alloc failed');
    const ptrs = [];
    let off = base;
    for (const b of parts) {
      if (b.length === 0) { ptrs.push(0); continue; }
      const v = this.#view(off, b.length);
      if (!v) throw new Error('zb_alloc returned a buffer outside memory');
      v.set(b);
      ptrs.push(off);
      off += b.length;
    }
    try { return fn(ptrs); } finally { if (base) this.#ex.zb_free(base); }
  }

  // --- driving --------------------------------------------------------
  /**
   * After every driving export: start the HTTP requests it issued, and call
   * zb_step when the delay it returned (ms until the guest's next timer;
   * -1: none) has passed. Guest time only passes inside exports; an HTTP
   * answer or a new call before then replaces the wake-up.
   */
  #after(delay) {
    const started = this.#started;
    this.#started = [];
    for (const r of started) this.#perform(r);
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = null;
    if (delay >= 0) {
      this.#wakeTimer = setTimeout(() => {
        this.#wakeTimer = null;
        this.stats.steps++;
        this.#after(this.#ex.zb_step());
      }, delay);
    }
  }

  #invoke(start, decode) {
    const call = ++this.#nextCall;
    const done = new Promise((resolve, reject) => this.#calls.set(call, { resolve, reject, decode }));
    this.#after(start(call)); // call_done may already have settled it
    return done;
  }

  // --- imports --------------------------------------------------------
  #callDone(call, status, ptr, len) {
    const c = this.#calls.get(call);
    if (!c) return;
    this.#calls.delete(call);
    const v = this.#view(ptr, len);
    if (!v) { c.reject(new ZbauthError({ kind: 7, code: 'INTERNAL', message: 'zbauth: the plugin passed an invalid result buffer' })); return; }
    const payload = v.slice(); // copy: the guest reuses its memory
    if (status !== 0) { c.reject(new ZbauthError(JSON.parse(dec.decode(payload)))); return; }
    try { c.resolve(c.decode(payload)); } catch (e) { c.reject(e); }
  }

  #httpStart(req, client, headPtr, headLen, bodyPtr, bodyLen, maxBody, timeoutMs) {
    const head = this.#view(headPtr, headLen);
    const body = bodyLen === -1 ? null : this.#view(bodyPtr, bodyLen);
    if (!head || headLen === 0 || (bodyLen !== -1 && !body)) { this.stats.refused++; return START_INVALID; }
    const [requestLine, ...lines] = dec.decode(head).split('\n');
    const sp = requestLine.indexOf(' ');
    if (sp <= 0) { this.stats.refused++; return START_INVALID; }
    const method = requestLine.slice(0, sp), url = requestLine.slice(sp + 1);
    const headers = {};
    for (const l of lines) {
      if (!l) continue;
      const i = l.indexOf(':');
      if (i <= 0) { this.stats.refused++; return START_INVALID; }
      headers[l.slice(0, i)] = l.slice(i + 1).trim();
    }
    const allowed = this.#origins.get(client);
    if (!allowed || !allowed.has(originOf(url))) { this.stats.refused++; return START_REFUSED; }
    this.stats.httpRequests++;
    const r = { id: req, client, method, url, headers, body: body && body.slice(), maxBody, timeoutMs, controller: new AbortController() };
    this.#reqs.set(req, r);
    this.#started.push(r); // performed once the export has returned
    return START_OK;
  }

  #httpAbort(req) {
    const r = this.#reqs.get(req);
    if (r) { this.#reqs.delete(req); r.controller.abort(); }
  }

  // --- HTTP -----------------------------------------------------------
  async #perform(r) {
    const signals = [r.controller.signal];
    if (r.timeoutMs > 0) signals.push(AbortSignal.timeout(r.timeoutMs));
    let status, headerLines, body, fail;
    try {
      const res = await fetch(r.url, {
        method: r.method, headers: r.headers, body: r.body, redirect: 'manual', signal: AbortSignal.any(signals),
      });
      const limit = r.maxBody > 0 ? r.maxBody : 16 << 20;
      body = await readLimited(res, limit);
      if (!body) fail = [FAIL_TOO_LARGE, `response body exceeds the size limit (> ${limit} bytes)`];
      status = res.status;
      headerLines = [...res.headers].map(([k, v]) => `${k}: ${v}\n`).join(''); // the guest canonicalises names
    } catch (e) {
      const timeout = e.name === 'TimeoutError' || e.name === 'AbortError';
      fail = [timeout ? FAIL_TIMEOUT : FAIL_TRANSPORT, String(e.cause?.message || e.message)];
    }
    if (!this.#reqs.has(r.id)) return; // aborted by the guest meanwhile
    this.#reqs.delete(r.id);
    if (!fail) this.#learn(r, status, body);
    if (fail) {
      const msg = enc.encode(fail[1]);
      this.#withArgs([msg], ([p]) => this.#after(this.#ex.zb_http_fail(r.id, fail[0], p, msg.length)));
    } else {
      const head = enc.encode(headerLines);
      this.#withArgs([head, body], ([hp, bp]) =>
        this.#after(this.#ex.zb_http_done(r.id, status, hp, head.length, bp, body.length)));
    }
  }

  // The answer to the guest's request for exactly its client's discovery
  // document makes the token_endpoint it names reachable for that client.
  #learn(r, status, body) {
    if (status !== 200 || r.method !== 'GET' || this.#discovery.get(r.client) !== r.url) return;
    let doc;
    try { doc = JSON.parse(dec.decode(body)); } catch { return; }
    const o = typeof doc?.token_endpoint === 'string' ? originOf(doc.token_endpoint) : null;
    if (o) this.#origins.get(r.client)?.add(o);
  }

  // --- public ---------------------------------------------------------
  /** Creates a client from config JSON (an object or a string). */
  async newClient(config = {}) {
    const cfg = enc.encode(typeof config === 'string' ? config : JSON.stringify(config));
    const out = await this.#invoke(
      (call) => this.#withArgs([cfg], ([p]) => this.#ex.zb_client_new(call, p, cfg.length)),
      (payload) => JSON.parse(dec.decode(payload)));
    // This host trusts the module's resolved configuration for the allowed
    // origins (the Go host resolves the configuration itself): the REST
    // address's, and for OAUTH the token URL's or the discovery document's
    // (then the token endpoint's it names, once read: #learn).
    const cfgOut = out.config;
    const urls = [cfgOut.rest_address];
    if (cfgOut.auth_strategy === 'OAUTH') urls.push(cfgOut.authorization_server_url, out.discovery_url);
    const origins = new Set(urls.filter(Boolean).map(originOf).filter(Boolean));
    this.#origins.set(out.client, origins);
    if (out.discovery_url) this.#discovery.set(out.client, out.discovery_url);
    return new Client(this, out.client, (fn, decode) => this.#invoke(fn, decode), this.#ex, (parts, fn) => this.#withArgs(parts, fn));
  }

  close() {
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = null;
    for (const r of this.#reqs.values()) r.controller.abort();
    this.#reqs.clear();
  }
}

export class Client {
  constructor(plugin, handle, invoke, ex, withArgs) {
    this.plugin = plugin;
    this.handle = handle;
    this.#invoke = invoke;
    this.#ex = ex;
    this.#withArgs = withArgs;
  }
  #invoke; #ex; #withArgs;

  /** The access token (cached in the guest). */
  token(timeoutMs = 0) {
    return this.#invoke((call) => this.#ex.zb_token(call, this.handle, timeoutMs), (b) => dec.decode(b));
  }

  /** GET /v1/topology, as an object in the REST API's field names. */
  topology(timeoutMs = 0) {
    return this.#invoke((call) => this.#ex.zb_topology(call, this.handle, timeoutMs), (b) => JSON.parse(dec.decode(b)));
  }

  /** An authenticated REST request: {status, headers, body: Uint8Array}. */
  request(method, path, body = null, timeoutMs = 0) {
    const m = enc.encode(method), p = enc.encode(path);
    const b = body == null ? new Uint8Array(0) : (typeof body === 'string' ? enc.encode(body) : body);
    return this.#invoke(
      (call) => this.#withArgs([m, p, b], ([mp, pp, bp]) =>
        this.#ex.zb_request(call, this.handle, timeoutMs, mp, m.length, pp, p.length, bp, body == null ? -1 : b.length)),
      parseResponse);
  }

  close() { this.#ex.zb_client_close(this.handle); }
}

/** Decodes a zb_request result: "STATUS\n", header lines, "\n", body. */
function parseResponse(b) {
  const nl = b.indexOf(10);
  const status = Number(dec.decode(b.subarray(0, nl)));
  let i = nl + 1;
  const headers = {};
  while (i < b.length && b[i] !== 10) {
    let j = b.indexOf(10, i);
    if (j < 0) j = b.length;
    const line = dec.decode(b.subarray(i, j));
    const c = line.indexOf(':');
    headers[line.slice(0, c)] = line.slice(c + 1).trim();
    i = j + 1;
  }
  return { status, headers, body: b.subarray(i + 1) };
}
