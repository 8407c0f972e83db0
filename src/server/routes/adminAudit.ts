import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { parseDuration } from '../../budget/windows.ts';
import { formatZodIssues } from '../../config/load.ts';
import { type Denial, denial } from '../../errors.ts';
import { runAudit } from '../../finops/audit/run.ts';
import { runInsights } from '../../finops/insights/run.ts';
import { fail, ok, type Result } from '../../result.ts';
import { parseJsonObject, readBody, sendError, sendJson } from '../http.ts';
import type { Services } from '../services.ts';
import { guarded } from './admin.ts';
import type { Route } from './types.ts';

/**
 * The audit and cost insights. The audit runs here, inside the gateway, because one of its
 * checks compares the live in-memory budget counters with the ledger; the CLI only calls it.
 */

type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => Promise<void>;

const DAY_MS = 86_400_000;
const DEFAULT_AUDIT_SPAN_MS = 30 * DAY_MS;
const DEFAULT_INSIGHTS_WINDOW = '7d';
const MAX_TOP = 100;

const timeValue = z.union([z.string().min(1), z.number().int().nonnegative()]);

const auditBody = z
  .object({
    /** ISO date/time or epoch ms; default 30 days before `to`. */
    from: timeValue.optional(),
    /** Exclusive end, ISO date/time or epoch ms; default now. */
    to: timeValue.optional(),
    tolerance: z.number().min(0).max(1).default(0.01),
    /** The provider's usage / cost export, as JSON (OpenAI or Anthropic admin API shape). */
    providerUsage: z.unknown().optional(),
    /** Provider id(s) the export covers; default every provider of the export's kind. */
    provider: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  })
  .strict();

function timeOf(value: string | number | undefined, param: string): Result<number | undefined> {
  if (value === undefined) return ok(undefined);
  const ms = typeof value === 'number' || /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) {
    return fail(denial('invalid_request', `${param} must be an ISO date or epoch milliseconds`, { param }));
  }
  return ok(ms);
}

async function body(svc: Services, req: IncomingMessage): Promise<Result<z.infer<typeof auditBody>>> {
  const raw = await readBody(req, svc.config.raw.server.max_body_bytes);
  if (!raw.ok) return raw;
  // An empty body means "all defaults".
  const parsedJson =
    raw.value.length === 0 ? ok({}) : parseJsonObject(raw.value, req.headers['content-type']);
  if (!parsedJson.ok) return parsedJson;
  const parsed = auditBody.safeParse(parsedJson.value);
  if (!parsed.success) {
    const issues = formatZodIssues(parsed.error);
    return fail(
      denial('invalid_request', `Invalid request body: ${issues.join('; ')}`, {
        param: issues[0]?.split(':')[0] ?? null,
      }),
    );
  }
  return ok(parsed.data);
}

function query(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

export function auditAdminRoutes(svc: Services): Route[] {
  const answer = (res: ServerResponse, d: Denial) => sendError(res, d);
  const routes: Array<[Route['method'], string, Handler]> = [
    [
      'POST',
      '/admin/v1/audit',
      async (req, res) => {
        const input = await body(svc, req);
        if (!input.ok) return answer(res, input.error);
        const to = timeOf(input.value.to, 'to');
        if (!to.ok) return answer(res, to.error);
        const from = timeOf(input.value.from, 'from');
        if (!from.ok) return answer(res, from.error);
        const toMs = to.value ?? svc.clock();
        const fromMs = from.value ?? toMs - DEFAULT_AUDIT_SPAN_MS;
        if (fromMs >= toMs) {
          return answer(res, denial('invalid_request', 'from must be before to', { param: 'from' }));
        }
        const p = input.value.provider;
        const report = await runAudit(svc, {
          fromMs,
          toMs,
          tolerance: input.value.tolerance,
          providerUsage: input.value.providerUsage,
          providers: p === undefined ? undefined : Array.isArray(p) ? p : [p],
        });
        if (!report.ok) return answer(res, report.error);
        sendJson(res, 200, report.value);
      },
    ],
    [
      'GET',
      '/admin/v1/insights',
      async (req, res) => {
        const q = query(req);
        const window = q.get('window') || DEFAULT_INSIGHTS_WINDOW;
        let windowMs: number;
        try {
          windowMs = parseDuration(window);
        } catch {
          return answer(
            res,
            denial('invalid_request', 'window must be a duration like 1h, 7d, 30d', { param: 'window' }),
          );
        }
        const rawLimit = q.get('limit');
        const limit = rawLimit === null || rawLimit === '' ? undefined : Number(rawLimit);
        if (limit !== undefined && (!/^\d+$/.test(rawLimit ?? '') || limit < 1 || limit > MAX_TOP)) {
          return answer(
            res,
            denial('invalid_request', `limit must be an integer from 1 to ${MAX_TOP}`, { param: 'limit' }),
          );
        }
        sendJson(res, 200, { window, ...(await runInsights(svc, { windowMs, limit })) });
      },
    ],
  ];
  return routes.map(([method, path, handler]) => ({ method, path, handler: guarded(svc, handler) }));
}
