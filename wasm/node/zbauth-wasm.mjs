// A second host for zbauth.wasm, written from wasm/ABI.md alone: Node's
// built-in WASI (node:wasi) runs the module, and the zbauth_host imports
// are implemented here with node:http and node:https. It proves that the
// ABI does not depend on wazero or Go, and it is small on purpose: no
// memory limit and no watchdog (see wasm/host for a complete host). A trap
// discards the instance: the calls in progress fail with INTERNAL, and the
// next call runs on a new instance with the clients recreated (their
// tokens lost).
//
// JavaScript is single-threaded and the module's exports never block, so
// the request/response state machine maps onto promises: an operation
// export returns at once; the HTTP requests it issued are performed with
// node:http(s) while the event loop runs; each answer is delivered with
// zb_http_done, during which the guest finishes operations and reports
// them through call_done.

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { WASI } from 'node:wasi';
import zlib from 'node:zlib';

export const ABI_VERSION = 3;
export const KIND_NAMES = ['OK', 'ARGUMENT', 'CONFIG', 'AUTH', 'API', 'TRANSPORT', 'TIMEOUT', 'INTERNAL'];

const START_OK = 0, START_REFUSED = 1, START_INVALID = 2, START_SHUTTING_DOWN = 4;
const FAIL_TRANSPORT = 1, FAIL_TIMEOUT = 2, FAIL_TOO_LARGE = 3, FAIL_TLS = 4;
// Node's error codes for a failed TLS handshake: final, as in the core.
const isTLSError = (e) => /CERT|SSL|TLS|SIGNATURE|UNABLE_TO|ERR_OSSL/.test(String(e?.code || ''));
const DEFAULT_MAX_BODY = 16 << 20; // the core's default max_body_bytes
const DEFAULT_HTTP_TIMEOUT_MS = 5 * 60_000; // when http_start gives none

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

function isLoopback(host) {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\./.test(h);
}

// The origin a discovery document's token endpoint adds (wasm/ABI.md,
// zb_client_new): none for plain http:// to a host that is not loopback
// unless allow_insecure_http, as the core refuses that endpoint.
function learnedOrigin(raw, allowInsecure) {
  const o = originOf(raw);
  if (!o || allowInsecure || !o.startsWith('http:')) return o;
  return isLoopback(new URL(raw).hostname) ? o : null;
}

// The response head as "Name: value\n" lines, the first value of a
// repeated name only (the guest canonicalises names).
function headLines(raw, decoded = false) {
  const seen = new Set();
  let out = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (seen.has(k) || /[\r\n]/.test(raw[i + 1])) continue;
    // A body this host decoded goes to the guest without the encoded
    // body's Content-Encoding and Content-Length.
    if (decoded && (k === 'content-encoding' || k === 'content-length')) continue;
    seen.add(k);
    out += `${raw[i]}: ${raw[i + 1]}\n`;
  }
  return out;
}

// A per-client agent holding the client's resolved TLS settings (the
// tls object of zb_client_new's result), read from the host's files: the
// CA is added to Node's default roots, the certificate and key are offered
// for mutual TLS. It serves every https:// origin of that client.
async function tlsAgent(t) {
  const opts = { keepAlive: true };
  const read = async (path, field) => {
    try { return await readFile(path); } catch (e) {
      throw new ZbauthError({ kind: 2, code: 'CONFIG', op: 'config', fields: [field], message: `zbauth: config: cannot read ${field}: ${e.code || 'error'}` });
    }
  };
  if (t.ca_certificate_path) opts.ca = [...tls.rootCertificates, (await read(t.ca_certificate_path, 'ca_certificate_path')).toString()];
  if (t.client_certificate_path) {
    opts.cert = await read(t.client_certificate_path, 'client_certificate_path');
    opts.key = await read(t.client_key_path, 'client_key_path');
  }
  try { return new https.Agent(opts); } catch (e) {
    throw new ZbauthError({ kind: 2, code: 'CONFIG', op: 'config', message: `zbauth: config: cannot use the TLS files: ${e.code || e.message}` });
  }
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
   * against the guest's PWD, or else the first preopen. stderr is the file
   * descriptor the guest's stderr goes to (the process's by default): the
   * Go runtime's crash report before a trap, which may quote a secret.
   */
  static async load(path, { env = {}, preopens = {}, stderr, onTokenReport = null } = {}) {
    const p = new Plugin();
    p.#module = await WebAssembly.compile(path instanceof Uint8Array ? path : await readFile(path)); // a path, or the bytes
    p.#wasiOptions = { version: 'preview1', env, args: [], preopens, returnOnExit: true, ...(stderr !== undefined && { stderr }) };
    p.#onTokenReport = onTokenReport;
    p.#instantiate();
    return p;
  }

  // A new instance of the module; the previous one, if any, is gone.
  #instantiate() {
    const p = this;
    const wasi = new WASI(this.#wasiOptions);
    const instance = new WebAssembly.Instance(this.#module, {
      wasi_snapshot_preview1: wasi.wasiImport,
      zbauth_host: {
        http_start: (...a) => p.#httpStart(...a),
        http_abort: (req) => p.#httpAbort(req),
        call_done: (call, status, ptr, len) => p.#callDone(call, status, ptr, len),
        // A host may keep a copy of each client's cached token; this small
        // host does not, and every token() enters the module. onTokenReport
        // (client handle, token, fresh_ms, usable_ms) observes the reports.
        token_report: (client, ptr, len, freshMs, usableMs) => {
          if (!p.#onTokenReport) return;
          const v = p.#view(ptr, len);
          p.#onTokenReport(client, v ? dec.decode(v) : null, freshMs, usableMs);
        },
      },
    });
    wasi.initialize(instance); // runs _initialize: the Go runtime starts
    // Every export call is counted (stats.exportCalls): an idle instance makes none.
    const ex = {};
    for (const [name, v] of Object.entries(instance.exports)) {
      ex[name] = typeof v !== 'function' ? v : (...a) => { this.stats.exportCalls++; return v(...a); };
    }
    const v = ex.zb_abi_version();
    if (v !== ABI_VERSION) throw new Error(`zbauth.wasm speaks ABI version ${v}, this host ${ABI_VERSION}`);
    this.#ex = ex;
    this.stats.instances++;
  }

  #module;
  #wasiOptions;
  #onTokenReport;
  #ex;                  // the live instance's exports; null after a trap
  #live = new Map();    // Client → {cfg: its config JSON, tls}, to recreate it after a trap
  #nextCall = 0;
  #calls = new Map();   // call id → {resolve, reject, decode}
  #reqs = new Map();    // req id → {client, method, url, headers, body, maxBody, timeoutMs, controller}
  #started = [];        // accepted during the current export
  #origins = new Map(); // guest client handle → Set of origins
  #discovery = new Map(); // guest client handle → its discovery document's URL
  #tls = new Map();     // guest client handle → {agent, allowInsecure}
  #wakeTimer = null;
  #closed = false;      // shutting down: http_start answers 4
  // bodyBytes: response body bytes received
  stats = { httpRequests: 0, refused: 0, aborted: 0, instances: 0, traps: 0, bodyBytes: 0, exportCalls: 0, steps: 0 };

  // --- memory ---------------------------------------------------------
  #view(ptr, len) {
    ptr >>>= 0; // pointers are unsigned: memory beyond 2 GiB reads as negative i32
    const buf = this.#ex.memory.buffer; // re-read: growing memory replaces it
    if (len < 0 || ptr < 0 || ptr + len > buf.byteLength) return null;
    return new Uint8Array(buf, ptr, len);
  }

  /** Writes parts into one zb_alloc buffer; calls fn(ptrs); frees it. */
  #withArgs(parts, fn) {
    const total = parts.reduce((n, b) => n + b.length, 0);
    const base = total > 0 ? this.#ex.zb_alloc(total) >>> 0 : 0;
    if (total > 0 && base === 0) throw new ZbauthError({ kind: 1, code: 'ARGUMENT', message: `zbauth: the plugin cannot take an argument of ${total} bytes` });
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
    let ok = false; // an export that threw left a broken instance: no zb_free on it
    try { const r = fn(ptrs); ok = true; return r; } finally { if (base && ok) this.#ex.zb_free(base); }
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
        let w;
        try { w = this.#run((ex) => ex.zb_step()); } catch { return; } // a trap: handled
        this.#after(w);
      }, delay);
    }
  }

  #invoke(start, decode) {
    const call = ++this.#nextCall;
    const done = new Promise((resolve, reject) => this.#calls.set(call, { resolve, reject, decode }));
    try {
      this.#after(this.#run((ex) => start(call, ex))); // call_done may already have settled it
    } catch (e) {
      const c = this.#calls.get(call); // gone when a trap failed every call
      if (c) { this.#calls.delete(call); c.reject(e); }
    }
    return done;
  }

  /**
   * Runs fn(exports) on the live instance, first replacing one that
   * trapped. An exception out of an export (a Wasm trap, the Go runtime
   * aborting) discards the instance (#trapped); the host's own
   * ZbauthErrors pass through.
   */
  #run(fn) {
    try {
      if (!this.#ex) this.#replace();
      return fn(this.#ex);
    } catch (e) {
      if (e instanceof ZbauthError) throw e;
      throw this.#trapped(e);
    }
  }

  // Discards the instance: every call in progress fails with INTERNAL, its
  // HTTP requests are aborted. The next call instantiates again.
  #trapped(e) {
    this.stats.traps++;
    this.#ex = null;
    const err = new ZbauthError({
      kind: 7, code: 'INTERNAL', op: 'plugin',
      message: `zbauth: plugin: the plugin instance trapped and was discarded; the next call starts a new one: ${e?.message || e}`,
    });
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = null;
    for (const r of this.#reqs.values()) r.controller.abort();
    this.#reqs.clear();
    this.#started = [];
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const c of calls) c.reject(err);
    return err;
  }

  // A new instance, with every open client created again from its config
  // (a client whose config fails now gets handle 0: its calls fail with
  // ARGUMENT).
  #replace() {
    this.#instantiate();
    this.#origins.clear();
    this.#discovery.clear();
    this.#tls.clear();
    for (const [client, { cfg, tls }] of this.#live) {
      try { client.handle = this.#clientNew(cfg).client; } catch { client.handle = 0; }
      if (client.handle) this.#tls.set(client.handle, tls);
    }
  }

  // zb_client_new, which always completes within the call; registers the
  // new client's allowed origins.
  #clientNew(cfg) {
    const call = ++this.#nextCall;
    let out, err = new ZbauthError({ kind: 7, code: 'INTERNAL', message: 'zbauth: the plugin did not answer zb_client_new' });
    this.#calls.set(call, { resolve: (v) => { out = v; err = null; }, reject: (e) => { err = e; }, decode: (b) => JSON.parse(dec.decode(b)) });
    try {
      this.#after(this.#withArgs([cfg], ([p]) => this.#ex.zb_client_new(call, p, cfg.length)));
    } finally {
      this.#calls.delete(call);
    }
    if (err) throw err;
    // This host trusts the module's resolved configuration for the allowed
    // origins (the Go host resolves the configuration itself): the REST
    // address's, and for OAUTH the token URL's or the discovery document's
    // (then the token endpoint's it names, once read: #learn).
    this.#origins.set(out.client, new Set(out.origins));
    if (out.discovery_url) this.#discovery.set(out.client, out.discovery_url);
    return out;
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
    if (this.#closed) { this.stats.refused++; return START_SHUTTING_DOWN; }
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
    if (r) { this.#reqs.delete(req); this.stats.aborted++; r.controller.abort(); }
  }

  // --- HTTP -----------------------------------------------------------
  async #perform(r) {
    const { status, head: headerLines, body, fail } = await this.#exchange(r);
    if (!this.#reqs.has(r.id)) return; // aborted by the guest meanwhile
    this.#reqs.delete(r.id);
    if (!fail) this.#learn(r, status, body);
    try {
      if (fail) {
        const msg = enc.encode(fail[1]);
        this.#after(this.#run((ex) => this.#withArgs([msg], ([p]) => ex.zb_http_fail(r.id, fail[0], p, msg.length))));
      } else {
        const head = enc.encode(headerLines);
        this.#after(this.#run((ex) => this.#withArgs([head, body], ([hp, bp]) =>
          ex.zb_http_done(r.id, status, hp, head.length, bp, body.length))));
      }
    } catch {} // a trap: #trapped failed the calls
  }

  // One exchange with node:http(s), never following redirects. The body
  // is read as it arrives and the connection dropped as soon as it passes
  // the limit (a declared Content-Length above it is refused unread).
  #exchange(r) {
    const limit = r.maxBody > 0 ? r.maxBody : DEFAULT_MAX_BODY;
    const tooLarge = { fail: [FAIL_TOO_LARGE, `response body exceeds the size limit (> ${limit} bytes)`] };
    return new Promise((resolve) => {
      let req, timer;
      const onAbort = () => { req?.destroy(); finish({ fail: [FAIL_TRANSPORT, 'aborted'] }); };
      const finish = (v) => {
        clearTimeout(timer);
        r.controller.signal.removeEventListener('abort', onAbort);
        resolve(v); // later calls are no-ops
      };
      let u;
      try { u = new URL(r.url); } catch { finish({ fail: [FAIL_TRANSPORT, 'invalid URL'] }); return; }
      const headers = { ...r.headers };
      if (r.body) headers['Content-Length'] = String(r.body.length);
      // As Go's net/http does: ask for gzip, and decode it here.
      if (!Object.keys(headers).some((k) => k.toLowerCase() === 'accept-encoding')) headers['Accept-Encoding'] = 'gzip';
      const agent = u.protocol === 'https:' ? this.#tls.get(r.client)?.agent : undefined;
      try {
        req = (u.protocol === 'https:' ? https : http).request(u, { method: r.method, headers, agent }, (res) => {
          const gzip = /^\s*(x-)?gzip\s*$/i.test(res.headers['content-encoding'] || '');
          if (!gzip && Number(res.headers['content-length']) > limit) { req.destroy(); finish(tooLarge); return; }
          // The limit counts decoded bytes: a small compressed body may
          // expand without bound.
          const src = gzip ? res.pipe(zlib.createGunzip()) : res;
          const chunks = [];
          let n = 0;
          res.on('data', (c) => { this.stats.bodyBytes += c.length; });
          src.on('data', (c) => {
            n += c.length;
            if (n > limit) { req.destroy(); finish(tooLarge); return; }
            chunks.push(c);
          });
          src.on('end', () => finish({ status: res.statusCode, head: headLines(res.rawHeaders, gzip), body: new Uint8Array(Buffer.concat(chunks, n)) }));
          src.on('error', (e) => finish({ fail: [FAIL_TRANSPORT, String(e.message)] }));
          if (gzip) res.on('error', (e) => finish({ fail: [FAIL_TRANSPORT, String(e.message)] }));
          res.on('aborted', () => finish({ fail: [FAIL_TRANSPORT, 'connection closed before the end of the body'] }));
        });
      } catch (e) { finish({ fail: [FAIL_TRANSPORT, String(e.message)] }); return; }
      req.on('error', (e) => finish({ fail: [isTLSError(e) ? FAIL_TLS : FAIL_TRANSPORT, String(e.message)] }));
      const ms = r.timeoutMs > 0 ? r.timeoutMs : DEFAULT_HTTP_TIMEOUT_MS;
      timer = setTimeout(() => { req.destroy(); finish({ fail: [FAIL_TIMEOUT, `no answer within ${ms} ms`] }); }, ms);
      r.controller.signal.addEventListener('abort', onAbort);
      req.end(r.body ? Buffer.from(r.body) : undefined);
    });
  }

  // The answer to the guest's request for exactly its client's discovery
  // document makes the token_endpoint it names reachable for that client.
  #learn(r, status, body) {
    if (status !== 200 || r.method !== 'GET' || this.#discovery.get(r.client) !== r.url) return;
    let doc;
    try { doc = JSON.parse(dec.decode(body)); } catch { return; }
    const o = typeof doc?.token_endpoint === 'string' ? learnedOrigin(doc.token_endpoint, this.#tls.get(r.client)?.allowInsecure) : null;
    if (o) this.#origins.get(r.client)?.add(o);
  }

  // --- public ---------------------------------------------------------
  /** Creates a client from config JSON (an object or a string). */
  async newClient(config = {}) {
    const cfg = enc.encode(typeof config === 'string' ? config : JSON.stringify(config));
    const out = this.#run(() => this.#clientNew(cfg));
    // The module says what to enforce (wasm/ABI.md, zb_client_new): the
    // origins, the discovery URL whose answer names one more, and the TLS
    // settings, whose files this host reads. It trusts the module for them.
    let tls;
    try {
      tls = { agent: await tlsAgent(out.tls || {}), allowInsecure: Boolean(out.tls?.allow_insecure_http) };
    } catch (e) {
      this.#origins.delete(out.client);
      this.#discovery.delete(out.client);
      try { this.#after(this.#run((ex) => ex.zb_client_close(out.client))); } catch {}
      throw e;
    }
    this.#tls.set(out.client, tls);
    const client = new Client(this, out.client, (fn, decode) => this.#invoke(fn, decode),
      (parts, fn) => this.#withArgs(parts, fn), (c) => this.#closeClient(c));
    this.#live.set(client, { cfg, tls });
    return client;
  }

  /** The origins client may reach now: those zb_client_new named, and a learned token endpoint's. */
  originsOf(client) { return new Set(this.#origins.get(client.handle)); }

  #closeClient(client) {
    const live = this.#live.get(client);
    if (!live) return;
    this.#live.delete(client);
    this.#origins.delete(client.handle);
    this.#discovery.delete(client.handle);
    this.#tls.delete(client.handle);
    live.tls.agent?.destroy();
    if (this.#ex) try { this.#after(this.#run((ex) => ex.zb_client_close(client.handle))); } catch {}
  }

  /**
   * Calls export name of the live instance with args, under the host's
   * trap handling: for tests and diagnostics (the ABI's rules are the
   * caller's to keep).
   */
  unsafeExport(name, ...args) {
    return this.#run((ex) => ex[name](...args));
  }

  /** Shuts down: requests in flight are aborted, new ones refused (4). */
  close() {
    this.#closed = true;
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = null;
    for (const r of this.#reqs.values()) r.controller.abort();
    this.#reqs.clear();
    for (const t of this.#tls.values()) t.agent.destroy();
  }
}

// timeoutMs of each call is the caller's own deadline in milliseconds; 0
// (the default) sets none, and the client's timeout (its config's
// timeout_ms, default 10 s) still bounds each token fetch and request.
export class Client {
  constructor(plugin, handle, invoke, withArgs, close) {
    this.plugin = plugin;
    this.handle = handle; // the guest's; a new one after the instance is replaced
    this.#invoke = invoke;
    this.#withArgs = withArgs;
    this.#close = close;
  }
  #invoke; #withArgs; #close;

  /** The access token (cached in the guest). */
  token(timeoutMs = 0) {
    return this.#invoke((call, ex) => ex.zb_token(call, this.handle, timeoutMs), (b) => dec.decode(b));
  }

  /** GET /v1/topology, as an object in the REST API's field names. */
  topology(timeoutMs = 0) {
    return this.#invoke((call, ex) => ex.zb_topology(call, this.handle, timeoutMs), (b) => JSON.parse(dec.decode(b)));
  }

  /** An authenticated REST request: {status, headers, body: Uint8Array}. */
  request(method, path, body = null, timeoutMs = 0) {
    const m = enc.encode(method), p = enc.encode(path);
    const b = body == null ? new Uint8Array(0) : (typeof body === 'string' ? enc.encode(body) : body);
    return this.#invoke(
      (call, ex) => this.#withArgs([m, p, b], ([mp, pp, bp]) =>
        ex.zb_request(call, this.handle, timeoutMs, mp, m.length, pp, p.length, bp, body == null ? -1 : b.length)),
      parseResponse);
  }

  close() { this.#close(this); }
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
