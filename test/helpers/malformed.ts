import { connect } from 'node:net';
import { describe as describeCode, type ErrorCode } from '../../src/errors.ts';

/**
 * Plumbing for the malformed-request suite: send a request by `fetch` or as raw bytes on a
 * socket, and check the reply against the error catalogue. A case never throws; every way it
 * can go wrong (timeout, reset, 5xx, wrong code, bad body) comes back as a list of problems.
 */

export const REQUEST_TIMEOUT_MS = 4_000;

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Outcome =
  | { kind: 'reply'; reply: Reply }
  | { kind: 'timeout' }
  | { kind: 'failed'; error: string };

export interface FetchRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export async function sendFetch(baseUrl: string, req: FetchRequest): Promise<Outcome> {
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  try {
    const res = await fetch(`${baseUrl}${req.path}`, {
      method: req.method,
      headers: req.headers ?? {},
      body: req.body,
      signal,
    });
    const body = await res.text();
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return { kind: 'reply', reply: { status: res.status, headers, body } };
  } catch (err) {
    if (signal.aborted) return { kind: 'timeout' };
    const e = err as Error & { cause?: { message?: string } };
    return { kind: 'failed', error: `${e.message}${e.cause?.message ? ` (${e.cause.message})` : ''}` };
  }
}

/**
 * Writes `parts` on a fresh connection and reads until the server closes it. The request
 * should carry `connection: close`. A reset after a complete reply (the server refusing a
 * body it will not read) still counts as that reply.
 */
export function sendRaw(baseUrl: string, parts: readonly (string | Buffer)[]): Promise<Outcome> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    let settled = false;
    const finish = (error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseRawReply(Buffer.concat(received));
      if (parsed) resolve({ kind: 'reply', reply: parsed });
      else if (error === 'timeout') resolve({ kind: 'timeout' });
      else resolve({ kind: 'failed', error: error ?? 'connection closed without a reply' });
    };
    const timer = setTimeout(() => finish('timeout'), REQUEST_TIMEOUT_MS);
    socket.on('data', (d: Buffer) => {
      received.push(d);
    });
    socket.on('error', (err) => finish(err.message));
    socket.on('close', () => finish(null));
    socket.on('connect', () => {
      (async () => {
        for (const part of parts) {
          if (socket.destroyed) return;
          if (!socket.write(part)) {
            await new Promise<void>((r) => {
              socket.once('drain', r);
              socket.once('close', r);
            });
          }
        }
        if (!socket.destroyed) socket.end();
      })().catch(() => undefined);
    });
  });
}

function parseRawReply(raw: Buffer): Reply | null {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  const length = Number(headers['content-length']);
  if (Number.isFinite(length)) {
    if (body.length < length) return null;
    body = body.subarray(0, length);
  }
  return { status: Number(m[1]), headers, body: body.toString('utf8') };
}

/** `code` is in the catalogue when the catalogue's exhaustive switch knows it. */
export function isCatalogued(code: unknown): code is ErrorCode {
  if (typeof code !== 'string') return false;
  try {
    describeCode(code as ErrorCode);
    return true;
  } catch {
    return false;
  }
}

export type Expectation =
  /** A 2xx: the input was acceptable (e.g. ignorable garbage baggage). */
  | { ok: true }
  /** A catalogued error; `param`, when given, must equal (string/null) or match (RegExp). */
  | { code: ErrorCode | readonly ErrorCode[]; param?: string | null | RegExp }
  /** Any one of several acceptable outcomes. */
  | { oneOf: readonly Expectation[] }
  /** A 2xx whose JSON body passes `check` (returns a problem or null). */
  | { okWith: (body: unknown) => string | null }
  /**
   * A 4xx whose body is not checked: for bytes Node's HTTP parser refuses before any route
   * runs (the gateway's clientError handler answers those with a bare 400).
   */
  | { httpError: true };

export interface Case {
  category: string;
  name: string;
  send: () => Promise<Outcome>;
  expect: Expectation;
}

interface ErrorBody {
  error: { message: string; type: string; code: ErrorCode; param: string | null };
}

/** Problems with a reply that claims to be an error: the shape every client can rely on. */
export function errorBodyProblems(reply: Reply): { problems: string[]; body: ErrorBody | null } {
  const problems: string[] = [];
  let json: unknown;
  try {
    json = JSON.parse(reply.body);
  } catch {
    return { problems: [`body is not JSON: ${JSON.stringify(reply.body.slice(0, 120))}`], body: null };
  }
  const error = (json as { error?: unknown } | null)?.error;
  if (typeof error !== 'object' || error === null || Array.isArray(error)) {
    return { problems: [`body has no error object: ${reply.body.slice(0, 120)}`], body: null };
  }
  const e = error as Record<string, unknown>;
  const keys = Object.keys(e).sort().join(',');
  if (keys !== 'code,message,param,type') problems.push(`error keys are ${keys}`);
  if (typeof e.message !== 'string' || e.message.trim() === '') problems.push('error.message is empty');
  if (!isCatalogued(e.code)) {
    problems.push(`error.code ${JSON.stringify(e.code)} is not in the catalogue`);
    return { problems, body: null };
  }
  const { status, type } = describeCode(e.code);
  if (reply.status !== status) problems.push(`status ${reply.status} but code ${e.code} means ${status}`);
  if (e.type !== type) problems.push(`error.type ${JSON.stringify(e.type)} but code ${e.code} means ${type}`);
  if (e.param !== null && (typeof e.param !== 'string' || !/^[^\s]{1,200}$/.test(e.param))) {
    problems.push(`error.param ${JSON.stringify(e.param)} is not null or a field name`);
  }
  if (reply.headers['x-tollgate-error-code'] !== e.code) {
    problems.push(`x-tollgate-error-code header ${reply.headers['x-tollgate-error-code']} != ${e.code}`);
  }
  return { problems, body: json as ErrorBody };
}

function describeExpectation(x: Expectation): string {
  if ('ok' in x) return '2xx';
  if ('httpError' in x) return 'any 4xx (HTTP parser error)';
  if ('okWith' in x) return '2xx (checked body)';
  if ('oneOf' in x) return x.oneOf.map(describeExpectation).join(' | ');
  const codes = typeof x.code === 'string' ? x.code : x.code.join('/');
  return x.param === undefined ? codes : `${codes} param=${String(x.param)}`;
}

function matches(reply: Reply, x: Expectation): string[] {
  if ('oneOf' in x) {
    const all = x.oneOf.map((alt) => matches(reply, alt));
    return all.some((p) => p.length === 0) ? [] : (all.flat() as string[]);
  }
  if ('httpError' in x) {
    return reply.status >= 400 && reply.status <= 499 ? [] : [`status ${reply.status}, expected 4xx`];
  }
  if ('ok' in x || 'okWith' in x) {
    if (reply.status < 200 || reply.status > 299) return [`status ${reply.status}, expected 2xx`];
    if ('okWith' in x) {
      let json: unknown;
      try {
        json = JSON.parse(reply.body);
      } catch {
        return ['2xx body is not JSON'];
      }
      const problem = x.okWith(json);
      return problem ? [problem] : [];
    }
    return [];
  }
  if (reply.status < 400 || reply.status > 499) return [`status ${reply.status}, expected 4xx`];
  const { problems, body } = errorBodyProblems(reply);
  if (!body) return problems;
  const wanted: readonly ErrorCode[] = typeof x.code === 'string' ? [x.code] : x.code;
  if (!wanted.includes(body.error.code)) problems.push(`code ${body.error.code}`);
  if (x.param !== undefined) {
    const p = body.error.param;
    const okParam = x.param instanceof RegExp ? typeof p === 'string' && x.param.test(p) : p === x.param;
    if (!okParam) problems.push(`param ${JSON.stringify(p)}`);
  }
  return problems;
}

/** Problems of one case, each prefixed with what was expected; [] when it behaved. */
export function judge(outcome: Outcome, expect: Expectation): string[] {
  if (outcome.kind === 'timeout') return [`no reply within ${REQUEST_TIMEOUT_MS} ms (hang)`];
  if (outcome.kind === 'failed') return [`connection failed: ${outcome.error}`];
  const { reply } = outcome;
  const problems = matches(reply, expect);
  if (problems.length === 0) return [];
  const snippet = reply.body.replace(/\s+/g, ' ').slice(0, 160);
  return [
    `expected ${describeExpectation(expect)}; got ${problems.join('; ')} — HTTP ${reply.status} ${snippet}`,
  ];
}

/** Runs cases `concurrency` at a time; returns one line per misbehaving case. */
export async function runCases(cases: readonly Case[], concurrency = 16): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < cases.length; i = next++) {
      const c = cases[i];
      if (!c) continue;
      const problems = judge(await c.send(), c.expect);
      for (const p of problems) failures.push(`[${c.category}] ${c.name}: ${p}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, cases.length) }, worker));
  return failures;
}

/** Printable, short, JSON-safe rendering of a generated value for case names. */
export function show(value: unknown): string {
  let s: string;
  try {
    s = value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
  } catch {
    s = String(value);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...(${s.length} chars)` : s;
}
