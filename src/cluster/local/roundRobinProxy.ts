import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { type Dispatcher, Pool } from 'undici';

/**
 * The load balancer of `npm run cluster`: request i goes to replica i mod N. Bodies are read
 * whole (API requests are small) so a replica that refuses the connection can be skipped;
 * responses stream back chunk by chunk (SSE stays a stream). Anything else — a reset after the
 * request was sent, a timeout — is a 502: the call may have run, so it is not sent twice.
 */
export interface RoundRobinProxy {
  url: string;
  /** Requests each replica answered so far, by index (0-based). */
  served(): number[];
  close(): Promise<void>;
}

export interface RoundRobinProxyOptions {
  /** Base URLs (origins) of the replicas. */
  upstreams: readonly string[];
  port?: number;
  host?: string;
}

/** Names the replica (1-based) that answered, on every proxied response. */
export const REPLICA_HEADER = 'x-tollgate-replica';

/** Connection-level headers that describe one hop and must not be copied to the next. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
  'host',
  // The body is forwarded as one buffer; undici sets its length.
  'content-length',
]);

/** Errors raised before a single byte reached the replica: safe to try the next one. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export async function startRoundRobinProxy(opts: RoundRobinProxyOptions): Promise<RoundRobinProxy> {
  if (opts.upstreams.length === 0) throw new Error('the proxy needs at least one upstream');
  // The gateway's own upstream settings (src/providers/http.ts), as bench/bare-proxy.ts uses them.
  const pools = opts.upstreams.map(
    (u) => new Pool(new URL(u).origin, { connections: 128, keepAliveTimeout: 30_000, pipelining: 1 }),
  );
  const served = pools.map(() => 0);
  let next = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const headers = requestHeaders(req.rawHeaders);
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const refused: string[] = [];
    for (let tries = 0; tries < pools.length; tries++) {
      const i = next;
      next = (next + 1) % pools.length;
      let answer: Dispatcher.ResponseData;
      try {
        answer = await pools[i]!.request({
          path: req.url ?? '/',
          method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
          headers,
          body: body.length > 0 ? body : null,
          signal: abort.signal,
        });
      } catch (err) {
        if (abort.signal.aborted) return;
        const code = (err as { code?: string }).code ?? '';
        if (!NOT_CONNECTED.has(code)) {
          fail(res, `replica ${i + 1}: ${(err as Error).message}`);
          return;
        }
        refused.push(`replica ${i + 1}: ${code}`);
        continue;
      }
      served[i] = (served[i] ?? 0) + 1;
      res.writeHead(answer.statusCode, {
        ...responseHeaders(answer.headers),
        [REPLICA_HEADER]: String(i + 1),
      });
      await pipeline(answer.body, res);
      return;
    }
    fail(res, `no replica accepted the connection (${refused.join(', ')})`);
  };

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A client that went away mid-stream ends the pipeline with an error; nothing to answer.
      if (!res.destroyed) fail(res, err instanceof Error ? err.message : String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port, family } = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`,
    served: () => [...served],
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await Promise.all(pools.map((p) => p.destroy()));
      })();
      return closing;
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The client's headers as a flat [name, value, …] list, repeated headers kept, hop-by-hop ones dropped. */
function requestHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, raw[i + 1]!);
  }
  return out;
}

function responseHeaders(headers: Dispatcher.ResponseData['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    // The replica's content-length is kept: the bytes go through unchanged.
    if (value !== undefined && (name === 'content-length' || !HOP_BY_HOP.has(name))) out[name] = value;
  }
  return out;
}

function fail(res: ServerResponse, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({ error: { message, type: 'proxy_error', code: 'replica_unreachable', param: null } }),
  );
}
