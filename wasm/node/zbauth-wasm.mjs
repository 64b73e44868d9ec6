// A second host for zbauth.wasm, written from wasm/ABI.md alone: Node's
// built-in WASI (node:wasi) runs the module, and the zbauth_host imports
// are implemented here with node:http and node:https. It proves that the ABI does not
// depend on wazero or Go, and it is small on purpose: no memory limit, no
// trap recovery, no watchdog (see wasm/host for a complete host).
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

export const ABI_VERSION = 2;
export const KIND_NAMES = ['OK', 'ARGUMENT', 'CONFIG', 'AUTH', 'API', 'TRANSPORT', 'TIMEOUT', 'INTERNAL'];

const START_OK = 0, START_REFUSED = 1, START_INVALID = 2;
const FAIL_TRANSPORT = 1, FAIL_TIMEOUT = 2, FAIL_TOO_LARGE = 3;
const STEP_INTERVAL_MS = 5;
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
function headLines(raw) {
  const seen = new Set();
  let out = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (seen.has(k) || /[\r\n]/.test(raw[i + 1])) continue;
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
   * against the guest's PWD, or else the first preopen.
   */
  static async load(path, { env = {}, preopens = {}, onTokenReport = null } = {}) {
    const bytes = await readFile(path);
    const p = new Plugin();
    const wasi = new WASI({ version: 'preview1', env, args: [], preopens, returnOnExit: true });
    const { instance } = await WebAssembly.instantiate(bytes, {
      wasi_snapshot_preview1: wasi.wasiImport,
      zbauth_host: {
        http_start: (...a) => p.#httpStart(...a),
        http_abort: (req) => p.#httpAbort(req),
        call_done: (call, status, ptr, len) => p.#callDone(call, status, ptr, len),
        // A host may keep a copy of each client's cached token; this small
        // host does not, and every token() enters the module. onTokenReport
        // (client handle, token, fresh_ms, usable_ms) observes the reports.
        token_report: (client, ptr, len, freshMs, usableMs) => {
          if (!onTokenReport) return;
          const v = p.#view(ptr, len);
          onTokenReport(client, v ? dec.decode(v) : null, freshMs, usableMs);
        },
      },
    });
    wasi.initialize(instance); // runs _initialize: the Go runtime starts
    p.#ex = instance.exports;
    const v = p.#ex.zb_abi_version();
    if (v !== ABI_VERSION) throw new Error(`zbauth.wasm speaks ABI ${v}, this host ${ABI_VERSION}`);
    return p;
  }

  #ex;
  #nextCall = 0;
  #calls = new Map();   // call id → {resolve, reject, decode}
  #reqs = new Map();    // req id → {client, method, url, headers, body, maxBody, timeoutMs, controller}
  #started = [];        // accepted during the current export
  #origins = new Map(); // guest client handle → Set of origins
  #discovery = new Map(); // guest client handle → its discovery document's URL
  #tls = new Map();     // guest client handle → {agent, allowInsecure}
  #pacer = null;
  stats = { httpRequests: 0, refused: 0, bodyBytes: 0 }; // bodyBytes: response body bytes received

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
  /** After every export that runs guest goroutines. */
  #after(busy) {
    const started = this.#started;
    this.#started = [];
    for (const r of started) this.#perform(r);
    if (busy > 0 && !this.#pacer) {
      // Guest timers only advance inside exports: step while goroutines live.
      this.#pacer = setInterval(() => {
        const b = this.#ex.zb_step();
        this.#after(b);
        if (b === 0) { clearInterval(this.#pacer); this.#pacer = null; }
      }, STEP_INTERVAL_MS);
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
    const { status, head: headerLines, body, fail } = await this.#exchange(r);
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
      const agent = u.protocol === 'https:' ? this.#tls.get(r.client)?.agent : undefined;
      try {
        req = (u.protocol === 'https:' ? https : http).request(u, { method: r.method, headers, agent }, (res) => {
          if (Number(res.headers['content-length']) > limit) { req.destroy(); finish(tooLarge); return; }
          const chunks = [];
          let n = 0;
          res.on('data', (c) => {
            n += c.length;
            this.stats.bodyBytes += c.length;
            if (n > limit) { req.destroy(); finish(tooLarge); return; }
            chunks.push(c);
          });
          res.on('end', () => finish({ status: res.statusCode, head: headLines(res.rawHeaders), body: new Uint8Array(Buffer.concat(chunks, n)) }));
          res.on('error', (e) => finish({ fail: [FAIL_TRANSPORT, String(e.message)] }));
          res.on('aborted', () => finish({ fail: [FAIL_TRANSPORT, 'connection closed before the end of the body'] }));
        });
      } catch (e) { finish({ fail: [FAIL_TRANSPORT, String(e.message)] }); return; }
      req.on('error', (e) => finish({ fail: [FAIL_TRANSPORT, String(e.message)] }));
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
    const out = await this.#invoke(
      (call) => this.#withArgs([cfg], ([p]) => this.#ex.zb_client_new(call, p, cfg.length)),
      (payload) => JSON.parse(dec.decode(payload)));
    // The module says what to enforce (wasm/ABI.md, zb_client_new): the
    // origins, the discovery URL whose answer names one more, and the TLS
    // settings, whose files this host reads. It trusts the module for them.
    let agent;
    try {
      agent = await tlsAgent(out.tls || {});
    } catch (e) {
      this.#ex.zb_client_close(out.client);
      throw e;
    }
    this.#origins.set(out.client, new Set(out.origins));
    this.#tls.set(out.client, { agent, allowInsecure: Boolean(out.tls?.allow_insecure_http) });
    if (out.discovery_url) this.#discovery.set(out.client, out.discovery_url);
    const forget = () => {
      this.#origins.delete(out.client);
      this.#discovery.delete(out.client);
      this.#tls.get(out.client)?.agent.destroy();
      this.#tls.delete(out.client);
    };
    return new Client(this, out.client, (fn, decode) => this.#invoke(fn, decode), this.#ex, (parts, fn) => this.#withArgs(parts, fn), forget);
  }

  /** The origins client may reach now: those zb_client_new named, and a learned token endpoint's. */
  originsOf(client) { return new Set(this.#origins.get(client.handle)); }

  close() {
    if (this.#pacer) clearInterval(this.#pacer);
    this.#pacer = null;
    for (const r of this.#reqs.values()) r.controller.abort();
    this.#reqs.clear();
    for (const t of this.#tls.values()) t.agent.destroy();
  }
}

export class Client {
  constructor(plugin, handle, invoke, ex, withArgs, forget) {
    this.plugin = plugin;
    this.handle = handle;
    this.#invoke = invoke;
    this.#ex = ex;
    this.#withArgs = withArgs;
    this.#forget = forget;
  }
  #invoke; #ex; #withArgs; #forget;

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

  close() { this.#ex.zb_client_close(this.handle); this.#forget(); }
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
