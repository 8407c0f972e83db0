import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadAssets, sendAsset } from '../../dashboard/assets.ts';
import {
  budgets,
  CALL_STATUSES,
  calls,
  DIMENSIONS,
  drill,
  events,
  insights,
  liveSummary,
  overview,
  trace,
  WINDOWS,
  type WindowName,
  windowStart,
} from '../../dashboard/queries.ts';
import {
  clearedSessionCookie,
  cookieValue,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  SessionSigner,
  sessionCookie,
  type Viewer,
} from '../../dashboard/session.ts';
import { startLiveStream } from '../../dashboard/stream.ts';
import { type Denial, denial } from '../../errors.ts';
import { isDashboardReadKey, publicKey } from '../../identity/keys.ts';
import type { CallStatus, UsageDimension } from '../../ledger/types.ts';
import { parseJsonObject, readBody, sendError, sendJson } from '../http.ts';
import { Router } from '../router.ts';
import type { Services } from '../services.ts';
import { adminRoutes } from './admin.ts';
import type { Handler, Route } from './types.ts';

const NO_STORE = { 'cache-control': 'no-store' };
/** Changes need this header: a cross-site form cannot send it, so SameSite plus this stops CSRF. */
const CSRF_HEADER = 'x-tollgate-dashboard';

class BadQuery extends Error {
  constructor(readonly denial: Denial) {
    super(denial.message);
  }
}

function query(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

function oneOf<T extends string>(q: URLSearchParams, name: string, allowed: readonly T[], fallback: T): T {
  const v = q.get(name);
  if (v === null || v === '') return fallback;
  if (!(allowed as readonly string[]).includes(v))
    throw new BadQuery(
      denial('invalid_request', `${name} must be one of ${allowed.join(', ')}`, { param: name }),
    );
  return v as T;
}

function optionalInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v))
    throw new BadQuery(denial('invalid_request', `${name} must be an integer`, { param: name }));
  return Number(v);
}

const text = (q: URLSearchParams, name: string) => q.get(name) || undefined;

function unauthorized(): Denial {
  return denial(
    'admin_unauthorized',
    'Sign in to the dashboard with the master key or a dashboard read key.',
  );
}

export function dashboardRoutes(svc: Services): Route[] {
  const assets = loadAssets();
  const signer = new SessionSigner(svc.clock);
  const admin = new Router(adminRoutes(svc));

  /** The session's viewer, re-checked against the key record so revoking a read key ends its sessions. */
  const viewerOf = (req: IncomingMessage): Viewer | null => {
    const viewer = signer.verify(cookieValue(req.headers, SESSION_COOKIE));
    if (!viewer || viewer.role === 'admin') return viewer;
    const key = svc.keys.get(viewer.keyId);
    const active =
      key !== undefined &&
      key.revokedAt === null &&
      (key.expiresAt === null || key.expiresAt > svc.clock()) &&
      key.team === viewer.team &&
      isDashboardReadKey(key);
    return active ? viewer : null;
  };

  const api =
    (
      handler: (
        req: IncomingMessage,
        res: ServerResponse,
        viewer: Viewer,
        p: Record<string, string>,
      ) => unknown,
    ) =>
    async (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => {
      const viewer = viewerOf(req);
      if (!viewer) {
        req.resume();
        return sendError(res, unauthorized(), NO_STORE);
      }
      try {
        await handler(req, res, viewer, params);
      } catch (err) {
        if (err instanceof BadQuery) return sendError(res, err.denial, NO_STORE);
        throw err;
      }
    };

  const json = (res: ServerResponse, body: unknown) => sendJson(res, 200, body, NO_STORE);

  /** Management goes through the admin API's own handlers, so validation and messages are the catalogue's. */
  const manage: Handler = (req, res) => {
    const viewer = viewerOf(req);
    if (viewer?.role !== 'admin' || !svc.masterKey) {
      req.resume();
      return sendError(res, unauthorized(), NO_STORE);
    }
    if (req.headers[CSRF_HEADER] !== '1') {
      req.resume();
      return sendError(res, denial('invalid_request', `Missing ${CSRF_HEADER} header.`), NO_STORE);
    }
    req.url = (req.url ?? '').replace(/^\/dashboard\/api\/admin\//, '/admin/v1/');
    req.headers.authorization = `Bearer ${svc.masterKey}`;
    return admin.dispatch(req, res);
  };

  const signIn: Handler = async (req, res) => {
    const raw = await readBody(req, 4096);
    if (!raw.ok) return sendError(res, raw.error, NO_STORE);
    const body = parseJsonObject(raw.value, req.headers['content-type']);
    if (!body.ok) return sendError(res, body.error, NO_STORE);
    const given = typeof body.value.key === 'string' ? body.value.key.trim() : '';
    let viewer: Viewer | null = null;
    if (svc.masterKey) {
      const a = Buffer.from(given);
      const b = Buffer.from(svc.masterKey);
      if (a.length === b.length && timingSafeEqual(a, b)) viewer = { role: 'admin' };
    }
    if (!viewer && given) {
      const key = svc.keys.authenticate(given);
      if (key.ok && isDashboardReadKey(key.value))
        viewer = { role: 'team', team: key.value.team, keyId: key.value.id };
    }
    if (!viewer) return sendError(res, unauthorized(), NO_STORE);
    const { token } = signer.issue(viewer);
    sendJson(res, 200, viewer.role === 'admin' ? { role: 'admin' } : { role: 'team', team: viewer.team }, {
      ...NO_STORE,
      'set-cookie': sessionCookie(token, SESSION_TTL_MS),
    });
  };

  const asset =
    (name: string): Handler =>
    (req, res) => {
      const a = assets.get(name);
      if (!a) return sendError(res, denial('route_not_found', `No asset ${name}.`));
      sendAsset(req, res, a);
    };

  const windowOf = (req: IncomingMessage, fallback: WindowName = 'month') =>
    oneOf(query(req), 'window', WINDOWS, fallback);

  const routes: Route[] = [
    { method: 'GET', path: '/dashboard', handler: asset('index.html') },
    {
      method: 'GET',
      path: '/dashboard/static/:file',
      handler: (req, res, p) => asset(p.file ?? '')(req, res, p),
    },
    { method: 'POST', path: '/dashboard/api/session', handler: signIn },
    {
      method: 'GET',
      path: '/dashboard/api/session',
      handler: api((_req, res, viewer) => json(res, viewer)),
    },
    {
      method: 'DELETE',
      path: '/dashboard/api/session',
      handler: (req, res) => {
        req.resume();
        sendJson(res, 200, { signedOut: true }, { ...NO_STORE, 'set-cookie': clearedSessionCookie() });
      },
    },
    {
      method: 'GET',
      path: '/dashboard/api/overview',
      handler: api(async (_req, res, viewer) => json(res, await overview(svc, viewer))),
    },
    {
      method: 'GET',
      path: '/dashboard/api/drill',
      handler: api(async (req, res, viewer) => {
        const q = query(req);
        json(
          res,
          await drill(svc, viewer, {
            by: oneOf<UsageDimension>(q, 'by', DIMENSIONS, 'team'),
            window: windowOf(req),
            team: text(q, 'team'),
            project: text(q, 'project'),
            env: text(q, 'env'),
          }),
        );
      }),
    },
    {
      method: 'GET',
      path: '/dashboard/api/events',
      handler: api(async (req, res, viewer) => json(res, await events(svc, viewer, windowOf(req, '24h')))),
    },
    {
      method: 'GET',
      path: '/dashboard/api/budgets',
      handler: api(async (_req, res, viewer) =>
        json(res, { now: new Date(svc.clock()).toISOString(), data: await budgets(svc, viewer) }),
      ),
    },
    {
      method: 'GET',
      path: '/dashboard/api/calls',
      handler: api(async (req, res, viewer) => {
        const q = query(req);
        const status = q.get('status');
        json(
          res,
          await calls(svc, viewer, {
            team: text(q, 'team'),
            project: text(q, 'project'),
            env: text(q, 'env'),
            keyId: text(q, 'key'),
            model: text(q, 'model'),
            requestId: text(q, 'request_id'),
            status: status ? oneOf<CallStatus>(q, 'status', CALL_STATUSES, 'ok') : undefined,
            before: optionalInt(q, 'before'),
            limit: optionalInt(q, 'limit'),
          }),
        );
      }),
    },
    {
      method: 'GET',
      path: '/dashboard/api/calls/:id',
      handler: api(async (req, res, viewer, p) => {
        const q = query(req);
        const ts = optionalInt(q, 'ts');
        const key = text(q, 'key');
        if (ts === undefined || !key)
          throw new BadQuery(denial('invalid_request', 'key and ts are required', { param: 'key' }));
        const t = await trace(svc, viewer, p.id ?? '', key, ts);
        if (!t) return sendError(res, denial('not_found', `call '${p.id}' not found`), NO_STORE);
        json(res, t);
      }),
    },
    {
      method: 'GET',
      path: '/dashboard/api/insights',
      handler: api(async (req, res, viewer) => {
        const window = windowOf(req, '7d');
        const now = svc.clock();
        json(res, {
          window,
          ...(await insights(
            svc,
            viewer,
            now - windowStart(window, now),
            optionalInt(query(req), 'limit') ?? 10,
          )),
        });
      }),
    },
    {
      method: 'GET',
      path: '/dashboard/api/keys',
      handler: api((req, res, viewer) => {
        const team = viewer.role === 'team' ? viewer.team : text(query(req), 'team');
        json(res, {
          data: svc.keys
            .list({ team, includeRevoked: query(req).get('include_revoked') === 'true' })
            .map(publicKey),
        });
      }),
    },
    {
      method: 'GET',
      path: '/dashboard/api/entities',
      handler: api(async (_req, res, viewer) => {
        const teams = await svc.store.entities.listTeams();
        const projects = await svc.store.entities.listProjects();
        const mine = (t: string) => viewer.role === 'admin' || t === viewer.team;
        json(res, {
          teams: teams.filter((t) => mine(t.id)).map((t) => t.id),
          projects: projects.filter((p) => mine(p.team)).map((p) => ({ id: p.id, team: p.team })),
          envs: [...svc.config.envs],
          models: [...svc.config.models.keys()],
        });
      }),
    },
    {
      method: 'GET',
      path: '/dashboard/api/stream',
      handler: api((req, res, viewer) => startLiveStream(svc, req, res, () => liveSummary(svc, viewer))),
    },
    { method: 'POST', path: '/dashboard/api/admin/keys', handler: manage },
    { method: 'DELETE', path: '/dashboard/api/admin/keys/:id', handler: manage },
    { method: 'POST', path: '/dashboard/api/admin/keys/:id/rotate', handler: manage },
    { method: 'POST', path: '/dashboard/api/admin/budgets', handler: manage },
    { method: 'PATCH', path: '/dashboard/api/admin/budgets/:id', handler: manage },
    { method: 'DELETE', path: '/dashboard/api/admin/budgets/:id', handler: manage },
  ];
  return routes;
}
