import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Knobs } from './knobs.ts';
import type { MockStats } from './types.ts';

/** One request/response pair and what the mock knows about it. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  startedAt: number;
  requestId: string;
  knobs: Knobs;
  stats: MockStats;
  /** The connection is gone (client left, server closed, or the mock cut it). */
  closed: boolean;
  /** The mock broke the connection on purpose (fault `cut`): not a client abort. */
  cutByMock: boolean;
}

export function newExchange(
  req: IncomingMessage,
  res: ServerResponse,
  knobs: Knobs,
  stats: MockStats,
): Exchange {
  const ex: Exchange = {
    req,
    res,
    startedAt: performance.now(),
    requestId: `req_${randomUUID().replaceAll('-', '')}`,
    knobs,
    stats,
    closed: false,
    cutByMock: false,
  };
  res.once('close', () => {
    ex.closed = true;
    if (!res.writableFinished && !ex.cutByMock) stats.aborted++;
  });
  return ex;
}

/*
 * Static values a real OpenAI response carries; gateways read x-ratelimit-* so they are
 * present, with numbers that never look exhausted.
 */
const OPENAI_HEADERS: OutgoingHttpHeaders = {
  'openai-organization': 'user-mock',
  'openai-version': '2020-10-01',
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-limit-tokens': '30000000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-remaining-tokens': '29999000',
  'x-ratelimit-reset-requests': '6ms',
  'x-ratelimit-reset-tokens': '2ms',
};

export function responseHeaders(
  ex: Exchange,
  contentType: string,
  extra?: OutgoingHttpHeaders,
): OutgoingHttpHeaders {
  return {
    'content-type': contentType,
    'x-request-id': ex.requestId,
    'openai-processing-ms': String(Math.round(performance.now() - ex.startedAt)),
    ...OPENAI_HEADERS,
    ...extra,
  };
}

/** Waits `ms`; resolves false when the connection went away meanwhile, so callers stop writing. */
export async function pause(ex: Exchange, ms: number): Promise<boolean> {
  // Unref'd so a held timer never keeps a test process alive after close().
  if (ms > 0) await sleep(ms, undefined, { ref: false });
  return !ex.closed;
}

/** Writes and resolves once the bytes are handed to the OS, so a following destroy cannot drop them. */
export function writeFlushed(ex: Exchange, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    if (ex.closed) return resolve();
    ex.res.write(data, () => resolve());
  });
}

/** Breaks the connection mid-response, as a dying upstream does. */
export function cutConnection(ex: Exchange): void {
  ex.cutByMock = true;
  ex.res.socket?.destroy();
}

export function sendText(
  ex: Exchange,
  status: number,
  text: string,
  contentType: string,
  extra?: OutgoingHttpHeaders,
): void {
  if (ex.closed) return;
  ex.res.writeHead(status, responseHeaders(ex, contentType, extra));
  ex.res.end(text);
}

export function sendJson(ex: Exchange, status: number, body: unknown, extra?: OutgoingHttpHeaders): void {
  sendText(ex, status, JSON.stringify(body), 'application/json', extra);
}

/**
 * A 200 JSON answer after the configured latency, honouring the body-level faults:
 * `bad-json` sends an unparsable body, `cut` declares the full length and dies halfway.
 */
export async function sendSuccess(ex: Exchange, body: unknown): Promise<void> {
  if (!(await pause(ex, ex.knobs.latencyMs))) return;
  const text = JSON.stringify(body);
  if (ex.knobs.fault === 'bad-json') return sendText(ex, 200, text.slice(0, -1), 'application/json');
  if (ex.knobs.fault !== 'cut') return sendText(ex, 200, text, 'application/json');
  const bytes = Buffer.from(text);
  ex.res.writeHead(200, responseHeaders(ex, 'application/json', { 'content-length': bytes.length }));
  await writeFlushed(ex, bytes.subarray(0, bytes.length >> 1));
  cutConnection(ex);
}
