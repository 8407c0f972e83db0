import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Denial, denial, toErrorResponse } from '../errors.ts';
import { fail, ok, type Result } from '../result.ts';

/** Reads a request body up to `limit` bytes; a larger body is refused without buffering it. */
export function readBody(req: IncomingMessage, limit: number): Promise<Result<Buffer>> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.resolve(fail(tooLarge(limit)));
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: Result<Buffer>) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        finish(fail(tooLarge(limit)));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(ok(Buffer.concat(chunks, size))));
    req.on('error', () => finish(fail(denial('invalid_request', 'The request body could not be read.'))));
    req.on('aborted', () => finish(fail(denial('invalid_request', 'The client aborted the request body.'))));
  });
}

function tooLarge(limit: number): Denial {
  return denial('body_too_large', `The request body is larger than the ${limit}-byte limit.`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Real chat bodies (tool schemas included) nest a few dozen levels; far deeper only overflows stacks. */
export const MAX_JSON_DEPTH = 128;

/** Deepest [ / { nesting outside strings, stopping early once past the limit. */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped char
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > MAX_JSON_DEPTH) return max;
      }
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/** Parses a JSON object body with catalogued errors for every way it can be wrong. */
export function parseJsonObject(
  raw: Buffer,
  contentType: string | undefined,
): Result<Record<string, unknown>> {
  if (contentType !== undefined && contentType !== '' && !/^application\/(.+\+)?json\b/i.test(contentType)) {
    return fail(
      denial('unsupported_media_type', `Content-Type must be application/json, not '${contentType}'.`),
    );
  }
  if (raw.length === 0)
    return fail(denial('invalid_json', 'The request body is empty; a JSON object is expected.'));
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return fail(denial('invalid_json', 'The request body is not valid UTF-8.'));
  }
  if (nestingDepth(text) > MAX_JSON_DEPTH) {
    return fail(denial('invalid_json', `The request body nests deeper than ${MAX_JSON_DEPTH} levels.`));
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail(denial('invalid_json', `The request body is not valid JSON: ${(err as Error).message}`));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail(denial('invalid_json', 'The request body must be a JSON object.'));
  }
  return ok(value as Record<string, unknown>);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

export function sendError(res: ServerResponse, d: Denial, headers: Record<string, string> = {}): void {
  const r = toErrorResponse(d);
  sendJson(res, r.status, r.body, { ...r.headers, ...headers });
}
