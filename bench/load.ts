import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

/** The parts of autocannon v8's programmatic API this bench uses (it ships no types). */
interface AutocannonOptions {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  connections: number;
  duration: number;
  pipelining?: number;
  overallRate?: number;
  timeout?: number;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  resets: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  requests: { total: number; sent: number; average: number };
}
interface AutocannonInstance {
  on(
    event: 'response',
    listener: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void,
  ): AutocannonInstance;
}
type Autocannon = (
  opts: AutocannonOptions,
  cb: (err: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** 'direct' = the mock itself, 'bare' = bench/bare-proxy.ts in front of it, 'gateway' = Tollgate in front of it. */
export type Side = 'direct' | 'bare' | 'gateway';

export interface Target {
  name: Side;
  url: string;
  headers: Record<string, string>;
}

/** What one run against one target produced. */
export interface RunResult {
  target: Side;
  /** Responses received, any status. */
  completed: number;
  ok: number;
  /** Requests written to the server (an upper bound on what it saw). */
  sent: number;
  failures: string[];
  wallSeconds: number;
  /** Per-request latency in ms (float; autocannon's own histogram only keeps whole ms). */
  latencies: Float64Array;
  /** Streaming only: time to response headers, ms. */
  ttfb: Float64Array | null;
  /** Paced runs: how late the scheduler fired requests, ms (p99), a check on the load generator itself. */
  schedulerLateP99: number | null;
}

export const CHAT_PATH = '/v1/chat/completions';

export const NON_STREAM_BODY = JSON.stringify({
  model: 'gpt-4.1-mini',
  messages: [{ role: 'user', content: 'hello' }],
  max_tokens: 16,
});

export const STREAM_BODY = JSON.stringify({
  model: 'gpt-4.1-mini',
  messages: [{ role: 'user', content: 'hello' }],
  max_tokens: 16,
  stream: true,
  stream_options: { include_usage: true },
});

/** Closed-loop load with autocannon: `connections` keep-alive sockets, optionally rate-capped. */
export function runAutocannon(
  target: Target,
  opts: { connections: number; seconds: number; overallRate?: number; body: string },
): Promise<RunResult> {
  const latencies: number[] = [];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url + CHAT_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...target.headers },
        body: opts.body,
        connections: opts.connections,
        duration: opts.seconds,
        pipelining: 1,
        timeout: 10,
        ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
      },
      (err, result) => {
        if (err) return reject(err);
        const failures: string[] = [];
        if (result.errors > 0) failures.push(`${result.errors} connection errors`);
        if (result.timeouts > 0) failures.push(`${result.timeouts} timeouts`);
        if (result.non2xx > 0)
          failures.push(`${result.non2xx} non-2xx: ${JSON.stringify(result.statusCodeStats)}`);
        if (result.mismatches > 0) failures.push(`${result.mismatches} body mismatches`);
        resolve({
          target: target.name,
          completed: result.requests.total,
          ok: result['2xx'],
          sent: result.requests.sent,
          failures,
          wallSeconds: (performance.now() - started) / 1000,
          latencies: Float64Array.from(latencies),
          ttfb: null,
          schedulerLateP99: null,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) => {
      latencies.push(ms);
    });
  });
}

/**
 * Open-loop load at a steady rate: request i is issued at t0 + i/rate, whatever happened to
 * earlier ones, over a pool of keep-alive connections. Autocannon's `overallRate` is not
 * steady: each connection sends its per-second quota back to back at the top of every second
 * and then idles, so its "fixed rate" latencies are saturation latencies in 1-second bursts.
 */
export async function runPaced(
  target: Target,
  opts: { rate: number; connections: number; seconds: number; stream: boolean },
): Promise<RunResult> {
  const pool = new Pool(target.url, {
    connections: opts.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  const headers = { 'content-type': 'application/json', ...target.headers };
  const body = opts.stream ? STREAM_BODY : NON_STREAM_BODY;
  const total = Math.round(opts.rate * opts.seconds);
  const interval = 1000 / opts.rate;
  const latencies = new Float64Array(total);
  const ttfb = opts.stream ? new Float64Array(total) : null;
  const late = new Float64Array(total);
  const failures: string[] = [];
  let ok = 0;
  let completed = 0;
  const inflight = new Set<Promise<void>>();

  const one = async (i: number): Promise<void> => {
    const t0 = performance.now();
    try {
      const res = await pool.request({ path: CHAT_PATH, method: 'POST', headers, body });
      if (ttfb) ttfb[i] = performance.now() - t0;
      const text = await res.body.text();
      latencies[i] = performance.now() - t0;
      completed++;
      if (res.statusCode !== 200) {
        failures.push(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
      } else if (
        opts.stream
          ? !text.includes('"usage":{') || !text.includes('data: [DONE]')
          : !text.includes('"usage"')
      ) {
        failures.push(`200 without usage: ${text.slice(0, 300)}`);
      } else {
        ok++;
      }
    } catch (err) {
      failures.push(`request error: ${(err as Error).message}`);
    }
  };

  const started = performance.now();
  let issued = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - started) / interval) + 1);
      while (issued < due) {
        late[issued] = performance.now() - (started + issued * interval);
        const p = one(issued);
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        issued++;
      }
      if (issued < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(inflight);
  const wallSeconds = (performance.now() - started) / 1000;
  await pool.close();
  return {
    target: target.name,
    completed,
    ok,
    sent: issued,
    failures: failures.length > 5 ? [...failures.slice(0, 5), `… ${failures.length} in all`] : failures,
    wallSeconds,
    latencies,
    ttfb,
    schedulerLateP99: percentile(late, 0.99),
  };
}

/** Nearest-rank percentile of unsorted samples (q in 0..1). */
export function percentile(samples: Float64Array, q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function concat(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}
