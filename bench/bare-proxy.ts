/**
 * The "bare proxy" baseline of `npm run bench`: the smallest Node reverse proxy that does the
 * gateway's transport work and nothing else. POST /v1/chat/completions bodies go to the upstream
 * unchanged and responses come back byte for byte: no parsing, no auth, no ledger, no budgets.
 * Bare proxy minus direct is the cost of a second HTTP hop on this machine; gateway minus bare proxy is
 * the cost of Tollgate's enforcement.
 *
 * The connection settings are the gateway's: a node:http server with `keepAliveTimeout: 65_000`
 * (src/server/gateway.ts) and one undici Pool per upstream origin with 128 connections (the default
 * of `providers.*.connections` in src/config/schema.ts), `keepAliveTimeout: 30_000`, `pipelining: 1`
 * (src/providers/http.ts).
 *
 * Usage: node --import tsx bench/bare-proxy.ts <upstream base URL> [port]
 * Prints "bare proxy listening on http://127.0.0.1:PORT" once it accepts connections.
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';

const CHAT_PATH = '/v1/chat/completions';
/** Connection-level headers that describe one hop and must not be copied to the next. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

const upstreamArg = process.argv[2];
if (!upstreamArg) {
  process.stderr.write('usage: node --import tsx bench/bare-proxy.ts <upstream base URL> [port]\n');
  process.exit(2);
}
const upstream = new URL(upstreamArg);
const pool = new Pool(upstream.origin, { connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function fail(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type: 'bare_proxy_error' } }));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST' || req.url !== CHAT_PATH) {
    req.resume();
    fail(res, 404, `bare proxy forwards only POST ${CHAT_PATH}`);
    return;
  }
  const body = await readBody(req);
  const headers: Record<string, string> = {};
  const type = req.headers['content-type'];
  if (type) headers['content-type'] = type;
  const answer = await pool.request({
    path: upstream.pathname.replace(/\/$/, '') + CHAT_PATH,
    method: 'POST',
    headers,
    body,
  });
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  res.writeHead(answer.statusCode, out);
  // Chunks go out as they arrive (an SSE stream stays a stream); pipeline handles backpressure and
  // destroys the upstream body if the client goes away.
  await pipeline(answer.body, res);
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  handle(req, res).catch((err: unknown) => {
    fail(res, 502, `upstream: ${err instanceof Error ? err.message : String(err)}`);
  });
});

server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`bare proxy listening on http://127.0.0.1:${port} -> ${upstream.origin}\n`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  void pool.destroy().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
