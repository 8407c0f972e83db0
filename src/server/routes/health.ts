import { sendJson } from '../http.ts';
import type { Services } from '../services.ts';
import type { Route } from './types.ts';

export function healthRoutes(svc: Services): Route[] {
  return [
    { method: 'GET', path: '/health', handler: (_req, res) => sendJson(res, 200, { status: 'ok' }) },
    {
      method: 'GET',
      path: '/ready',
      handler: async (_req, res) => {
        try {
          await svc.store.ledger.count();
          sendJson(res, 200, { status: 'ready', ledgerBacklog: svc.ledger.backlog });
        } catch (err) {
          sendJson(res, 503, { status: 'unavailable', reason: (err as Error).message });
        }
      },
    },
  ];
}
