import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../server/services.ts';

export const STREAM_INTERVAL_MS = 2000;
const SETTLE_POLL_MS = 250;

/**
 * Server-sent events: a summary every ~2 s, and sooner when the ledger writer has just flushed
 * (calls settled). Stops when the client goes away.
 */
export function startLiveStream(
  svc: Services,
  req: IncomingMessage,
  res: ServerResponse,
  summary: () => Promise<unknown>,
): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 3000\n\n');
  let closed = false;
  let busy = false;
  let lastPush = 0;
  let backlog = svc.ledger.backlog;
  const push = async () => {
    if (closed || busy) return;
    busy = true;
    lastPush = Date.now();
    try {
      const data = await summary();
      if (!closed) res.write(`event: summary\ndata: ${JSON.stringify(data)}\n\n`);
    } catch (err) {
      svc.log.warn({ err }, 'dashboard stream summary failed');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => {
    const now = svc.ledger.backlog;
    const settled = backlog > 0 && now === 0;
    backlog = now;
    if (settled || Date.now() - lastPush >= STREAM_INTERVAL_MS) void push();
  }, SETTLE_POLL_MS);
  const stop = () => {
    closed = true;
    clearInterval(timer);
  };
  req.on('close', stop);
  res.on('close', stop);
  void push();
}
