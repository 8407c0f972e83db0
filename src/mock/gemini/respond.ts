import type { OutgoingHttpHeaders } from 'node:http';
import { cutConnection, type Exchange, pause, writeFlushed } from '../exchange.ts';
import { finalUsage, type GeminiPlan, type GeminiUsage, usageMetadata } from './plan.ts';

type Json = Record<string, unknown>;

/** What Gemini attaches to a functionCall part when the model thought before calling. */
const MOCK_SIGNATURE = 'CiQBVKhc7mockThoughtSignature0000000000000000000000000000';
/** Where `bad-json` puts its broken event: a data line a JSON parser must choke on. */
const BROKEN_EVENT = 'data: {"candidates": [{"content": {"parts": [{"text": " brok\r\n\r\n';

function googleHeaders(contentType: string, extra?: OutgoingHttpHeaders): OutgoingHttpHeaders {
  return {
    'content-type': contentType,
    vary: 'Origin, X-Origin, Referer',
    server: 'scaffolding on HTTPServer2',
    'x-content-type-options': 'nosniff',
    date: new Date().toUTCString(),
    ...extra,
  };
}

/** Google's error envelope: `{error: {code, message, status}}` (plus details, as Google sends them). */
export function sendGoogleError(
  ex: Exchange,
  code: number,
  status: string,
  message: string,
  details?: Json[],
  headers?: OutgoingHttpHeaders,
): void {
  if (ex.closed) return;
  const error: Json = { code, message, status };
  if (details) error.details = details;
  ex.res.writeHead(code, googleHeaders('application/json; charset=UTF-8', headers));
  ex.res.end(JSON.stringify({ error }, null, 2));
}

/** The status faults, answered after the configured latency; false when the fault is not one. */
export async function sendGoogleStatusFault(ex: Exchange): Promise<boolean> {
  const fault = ex.knobs.fault;
  if (fault !== '429' && fault !== '500' && fault !== '503') return false;
  if (!(await pause(ex, ex.knobs.latencyMs))) return true;
  if (fault === '429') {
    const seconds = ex.knobs.retryAfterSeconds;
    sendGoogleError(
      ex,
      429,
      'RESOURCE_EXHAUSTED',
      'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
      [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${seconds}s` }],
    );
  } else if (fault === '500') {
    sendGoogleError(
      ex,
      500,
      'INTERNAL',
      'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
    );
  } else {
    sendGoogleError(ex, 503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.');
  }
  return true;
}

interface CandidatePiece {
  parts: Json[];
  finish: boolean;
}

function response(plan: GeminiPlan, pieces: CandidatePiece[], usage: GeminiUsage | null): Json {
  const body: Json = {
    candidates: pieces.map((piece, index) => {
      const candidate: Json = { content: { parts: piece.parts, role: 'model' } };
      if (piece.finish) candidate.finishReason = plan.finishReason;
      candidate.index = index;
      return candidate;
    }),
  };
  if (usage) body.usageMetadata = usage;
  body.modelVersion = plan.model;
  body.responseId = plan.responseId;
  return body;
}

function functionCallPart(plan: GeminiPlan): Json[] {
  if (!plan.functionCall) return [];
  const part: Json = { functionCall: plan.functionCall };
  if (plan.thoughtsTokens > 0) part.thoughtSignature = MOCK_SIGNATURE;
  return [part];
}

/** The whole answer as one GenerateContentResponse. */
function wholeResponse(plan: GeminiPlan, withUsage: boolean): Json {
  const parts: Json[] = [];
  if (plan.thoughts.length > 0) parts.push({ text: plan.thoughts.join(''), thought: true });
  if (plan.text.length > 0) parts.push({ text: plan.text.join('') });
  parts.push(...functionCallPart(plan));
  const pieces = Array.from({ length: plan.candidates }, () => ({ parts, finish: true }));
  return response(plan, pieces, withUsage ? finalUsage(plan) : null);
}

/** The JSON answer, honouring `bad-json` (truncated), `cut` (half the body) and `no-usage`. */
export async function sendGenerate(ex: Exchange, plan: GeminiPlan): Promise<void> {
  if (!(await pause(ex, ex.knobs.latencyMs))) return;
  const bytes = Buffer.from(JSON.stringify(wholeResponse(plan, ex.knobs.fault !== 'no-usage'), null, 2));
  if (ex.closed) return;
  if (ex.knobs.fault === 'bad-json') {
    ex.res.writeHead(200, googleHeaders('application/json; charset=UTF-8'));
    ex.res.end(bytes.subarray(0, -1));
    return;
  }
  if (ex.knobs.fault === 'cut') {
    ex.res.writeHead(
      200,
      googleHeaders('application/json; charset=UTF-8', { 'content-length': bytes.length }),
    );
    await writeFlushed(ex, bytes.subarray(0, bytes.length >> 1));
    cutConnection(ex);
    return;
  }
  ex.res.writeHead(200, googleHeaders('application/json; charset=UTF-8'));
  ex.res.end(bytes);
}

/**
 * The stream's GenerateContentResponses, in order: one per visible thought word, one per text
 * word (every candidate's next word together), the last one carrying finishReason — or, for
 * a function call, one event with the whole call. usageMetadata is cumulative on every event
 * and complete on the last, as Gemini sends it.
 */
function streamEvents(plan: GeminiPlan, withUsage: boolean): Json[] {
  const events: Json[] = [];
  const all = (parts: Json[], finish: boolean) =>
    Array.from({ length: plan.candidates }, () => ({ parts, finish }));
  const thoughtsSoFar = (i: number) => (plan.thoughts.length > 0 ? i : plan.thoughtsTokens);
  plan.thoughts.forEach((word, i) => {
    const usage = withUsage ? usageMetadata(plan, 0, thoughtsSoFar(i + 1)) : null;
    events.push(response(plan, all([{ text: word, thought: true }], false), usage));
  });
  const last = plan.text.length - 1;
  plan.text.forEach((word, i) => {
    if (i === last && !plan.functionCall) return;
    const usage = withUsage ? usageMetadata(plan, plan.candidates * (i + 1), plan.thoughtsTokens) : null;
    events.push(response(plan, all([{ text: word }], false), usage));
  });
  const finalParts = plan.functionCall
    ? functionCallPart(plan)
    : [{ text: last >= 0 ? plan.text[last]! : '' }];
  events.push(response(plan, all(finalParts, true), withUsage ? finalUsage(plan) : null));
  return events;
}

/** streamGenerateContent: SSE with `alt=sse`, otherwise one JSON array written as it grows. */
export async function streamGenerate(ex: Exchange, plan: GeminiPlan, sse: boolean): Promise<void> {
  const { knobs, res, stats } = ex;
  const events = streamEvents(plan, knobs.fault !== 'no-usage').map((e) => JSON.stringify(e));
  let frames = sse
    ? events.map((e) => `data: ${e}\r\n\r\n`)
    : events.map((e, i) => `${i === 0 ? '[' : ',\r\n'}${e}${i === events.length - 1 ? ']' : ''}`);
  if (knobs.fault === 'bad-json') frames = [frames[0]!, BROKEN_EVENT, ...frames.slice(1)];
  if (!(await pause(ex, knobs.ttftMs))) return;

  res.writeHead(200, googleHeaders(sse ? 'text/event-stream' : 'application/json; charset=UTF-8'));
  stats.streamsStarted++;
  res.once('finish', () => stats.streamsCompleted++);

  if (knobs.fault === 'cut') {
    // Half the events, then the connection dies before the finishing one.
    await writeFlushed(ex, frames.slice(0, frames.length >> 1).join(''));
    cutConnection(ex);
    return;
  }
  if (knobs.interChunkMs <= 0 || frames.length === 1) {
    res.end(frames.join(''));
    return;
  }
  res.write(frames[0]);
  for (let i = 1; i < frames.length; i++) {
    if (!(await pause(ex, knobs.interChunkMs))) return;
    if (i === frames.length - 1) res.end(frames[i]);
    else res.write(frames[i]);
  }
}
