import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../services.ts';
import { guarded } from './admin.ts';
import type { Route } from './types.ts';

/** Prometheus scrape endpoint (`telemetry.prometheus`): unauthenticated unless configured otherwise. */
export function metricsRoutes(svc: Services): Route[] {
  const prom = svc.telemetry.prometheus;
  if (!prom) return [];
  const scrape = async (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const text = await prom.render(svc);
    res.writeHead(200, { 'content-type': prom.contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const path = prom.path.replace(/\/+$/, '') || '/';
  return [{ method: 'GET', path, handler: prom.requireMasterKey ? guarded(svc, scrape) : scrape }];
}
