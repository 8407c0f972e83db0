import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Exchange, newExchange, sendJson, sendText } from './exchange.ts';
import { type MockSettings, requestKnobs, resolveSettings } from './knobs.ts';
import { modelListBody, modelObject } from './models.ts';
import {
  MALFORMED_JSON_MESSAGE,
  openaiError,
  sendInvalidRequest,
  sendMissingKey,
  sendUnknownModel,
  sendUnknownRoute,
  sendWrongKey,
} from './openaiErrors.ts';
import { type MockBody, PROVIDER_ROUTES } from './providerRoutes.ts';
import { handleResponses } from './responses/index.ts';
import { handleChatCompletions, handleEmbeddings } from './routes.ts';
import type { MockOptions, MockServer, MockStats, ReceivedRequest } from './types.ts';

/** Longer than any client's idle keep-alive, so the client, not the mock, closes idle sockets. */
const KEEP_ALIVE_MS = 65_000;
const MODELS_PREFIX = '/v1/models/';

/** OpenAI's JSON endpoints, by path. */
const POST_ROUTES = new Map<string, (ex: Exchange, body: unknown) => Promise<void>>([
  ['/v1/chat/completions', handleChatCompletions],
  ['/v1/embeddings', handleEmbeddings],
  ['/v1/responses', handleResponses],
]);

/** The body as text; null when the client went away before sending it all. */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    return null;
  }
  return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
}

type Body = MockBody;

function parseBody(text: string): Body {
  if (text.length === 0) return { kind: 'none' };
  try {
    return { kind: 'json', value: JSON.parse(text) };
  } catch {
    return { kind: 'malformed', text };
  }
}

function bearerKey(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (header === undefined) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1]!.trim() : '';
}

interface MockContext {
  settings: MockSettings;
  stats: MockStats;
  received: ReceivedRequest[];
  /** Serialized once: the list never changes while the server runs. */
  modelList: string;
}

function record(ctx: MockContext, req: IncomingMessage, path: string, body: Body): void {
  const limit = ctx.settings.recordRequests;
  if (limit <= 0) return;
  const value = body.kind === 'json' ? body.value : body.kind === 'malformed' ? body.text : undefined;
  ctx.received.push({
    method: req.method ?? 'GET',
    path,
    url: req.url ?? path,
    headers: req.headers,
    body: value,
  });
  if (ctx.received.length > limit) ctx.received.splice(0, ctx.received.length - limit);
}

/** True when the request may go on; otherwise the 401 has been sent. */
function authorized(ex: Exchange, expected: string | null): boolean {
  if (expected === null) return true;
  const key = bearerKey(ex.req);
  if (key === null || key === '') sendMissingKey(ex);
  else if (key !== expected) sendWrongKey(ex, key);
  return key === expected;
}

async function handle(ctx: MockContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  ctx.stats.requests++;
  const ex = newExchange(req, res, requestKnobs(req.headers, ctx.settings), ctx.stats);
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);

  const text = method === 'POST' ? await readBody(req) : '';
  if (text === null) return;
  const body = parseBody(text);
  record(ctx, req, path, body);
  const providerRoute = PROVIDER_ROUTES.find((r) => r.matches(method, path));
  if (providerRoute) return providerRoute.handle(ex, path, body, text);
  if (!authorized(ex, ctx.settings.apiKey)) return;

  const post = method === 'POST' ? POST_ROUTES.get(path) : undefined;
  if (post) {
    if (body.kind !== 'json') return sendInvalidRequest(ex, MALFORMED_JSON_MESSAGE);
    return post(ex, body.value);
  }
  if (method === 'GET' && path === '/v1/models') return sendText(ex, 200, ctx.modelList, 'application/json');
  if (method === 'GET' && path.startsWith(MODELS_PREFIX) && path.length > MODELS_PREFIX.length) {
    const id = decodeURIComponent(path.slice(MODELS_PREFIX.length));
    return ctx.settings.models.includes(id) ? sendJson(ex, 200, modelObject(id)) : sendUnknownModel(ex, id);
  }
  sendUnknownRoute(ex, method, path);
}

/** A bug in the mock must show up as an OpenAI-style 500, never as a crashed test run. */
function reportBug(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const message = `Mock upstream bug: ${err instanceof Error ? err.message : String(err)}`;
  res.writeHead(500, { 'content-type': 'application/json' });
  res.end(JSON.stringify(openaiError(message, 'server_error')));
}

export async function startMock(opts: MockOptions = {}): Promise<MockServer> {
  const settings = resolveSettings(opts);
  const ctx: MockContext = {
    settings,
    stats: { requests: 0, streamsStarted: 0, streamsCompleted: 0, aborted: 0 },
    received: [],
    modelList: JSON.stringify(modelListBody(settings.models)),
  };
  const server = createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, (req, res) => {
    handle(ctx, req, res).catch((err: unknown) => reportBug(res, err));
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    received: ctx.received,
    stats: ctx.stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Held `timeout` requests and idle keep-alive sockets would otherwise keep close() waiting.
        server.closeAllConnections();
      }),
  };
}
