import type { IncomingMessage, ServerResponse } from 'node:http';
import { denial } from '../../errors.ts';
import type { Suspension } from '../../runaway/types.ts';
import { sendError, sendJson } from '../http.ts';
import type { Services } from '../services.ts';
import { guarded } from './admin.ts';
import type { Route } from './types.ts';

/**
 * Admin API for alerts and runaway detection: the alert events and their delivery log, the
 * suspensions in force, and the two operator actions on a tripped key (resume, rebaseline).
 */

const DEFAULT_LIMIT = 100;
/** The alert store caps every list at this many rows. */
const MAX_LIMIT = 1000;

type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => Promise<void>;

function query(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

/** `limit` as 1..1000, DEFAULT_LIMIT when absent; null (after answering 400) when it is not one. */
function limitOf(res: ServerResponse, q: URLSearchParams): number | null {
  const raw = q.get('limit');
  if (raw === null || raw === '') return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_LIMIT) {
    sendError(
      res,
      denial('invalid_request', `limit must be an integer from 1 to ${MAX_LIMIT}`, { param: 'limit' }),
    );
    return null;
  }
  return n;
}

function suspensionView(s: Suspension) {
  return { ...s, since: new Date(s.sinceMs).toISOString(), until: new Date(s.untilMs).toISOString() };
}

export function alertAdminRoutes(svc: Services): Route[] {
  /** The key named in the path, or null after answering 404. */
  const knownKey = (res: ServerResponse, id: string | undefined): string | null => {
    const key = svc.keys.get(id ?? '');
    if (key) return key.id;
    sendError(res, denial('not_found', `key '${id ?? ''}' does not exist`));
    return null;
  };

  const routes: Array<[Route['method'], string, Handler]> = [
    [
      'GET',
      '/admin/v1/alerts',
      async (req, res) => {
        const q = query(req);
        const limit = limitOf(res, q);
        if (limit === null) return;
        const policyId = q.get('policy') || undefined;
        sendJson(res, 200, { data: await svc.store.alerts.listEvents({ policyId, limit }) });
      },
    ],
    [
      'GET',
      '/admin/v1/alerts/deliveries',
      async (req, res) => {
        const q = query(req);
        const limit = limitOf(res, q);
        if (limit === null) return;
        const eventId = q.get('event') || undefined;
        sendJson(res, 200, { data: await svc.store.alerts.listDeliveries({ eventId, limit }) });
      },
    ],
    [
      'GET',
      '/admin/v1/runaway',
      async (req, res) => {
        const limit = limitOf(res, query(req));
        if (limit === null) return;
        sendJson(res, 200, {
          suspensions: svc.runaway.suspensions(svc.clock()).map(suspensionView),
          recent: await svc.alerts.recentRunaway(limit),
          stats: svc.runaway.stats(),
        });
      },
    ],
    [
      'POST',
      '/admin/v1/keys/:id/resume',
      async (req, res, p) => {
        req.resume();
        const id = knownKey(res, p.id);
        if (id === null) return;
        const resumed = svc.runaway.resume(id);
        if (resumed) svc.log.info({ keyId: id }, 'runaway suspension lifted by an admin');
        sendJson(res, 200, { id, resumed });
      },
    ],
    [
      'POST',
      '/admin/v1/keys/:id/rebaseline',
      async (req, res, p) => {
        req.resume();
        const id = knownKey(res, p.id);
        if (id === null) return;
        const trackers = svc.runaway.rebaseline(id, svc.clock());
        svc.log.info({ keyId: id, trackers }, 'runaway baseline reset by an admin');
        sendJson(res, 200, { id, rebaselined: trackers });
      },
    ],
  ];
  return routes.map(([method, path, handler]) => ({ method, path, handler: guarded(svc, handler) }));
}
