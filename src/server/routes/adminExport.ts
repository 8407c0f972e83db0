import type { IncomingMessage, ServerResponse } from 'node:http';
import { denial } from '../../errors.ts';
import { GRANULARITIES, type Granularity } from '../../finops/export/allocation.ts';
import { buildExport, EXPORT_FORMATS, type ExportFormat } from '../../finops/export/exporter.ts';
import { dayRange } from '../../finops/export/range.ts';
import { ledgerStoreCalls } from '../../finops/export/source.ts';
import { priceLookup } from '../../finops/export/wiring.ts';
import { formatUsd } from '../../money.ts';
import { sendError } from '../http.ts';
import type { Services } from '../services.ts';
import { guarded } from './admin.ts';
import type { Route } from './types.ts';

/**
 * GET /admin/v1/export?from=YYYY-MM-DD&to=YYYY-MM-DD&format=csv|parquet|focus|focus-parquet
 *   &by=request|call|day&include_unbilled=true
 * The allocation table or FOCUS 1.3 lines of whole UTC days (`to` included), as a file body.
 * Queued ledger rows are flushed first, so the file includes every call settled before the request.
 */
export function exportAdminRoutes(svc: Services): Route[] {
  const prices = priceLookup(svc.config, svc.prices);
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    req.resume();
    const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const bad = (message: string, param: string) =>
      sendError(res, denial('invalid_request', message, { param }));

    const range = dayRange(q.get('from') ?? '', q.get('to') ?? '');
    if (!range.ok) return bad(range.message, range.field);
    const format = (q.get('format') ?? 'csv') as ExportFormat;
    if (!EXPORT_FORMATS.includes(format))
      return bad(`format must be one of ${EXPORT_FORMATS.join(', ')}`, 'format');
    const by = (q.get('by') ?? 'request') as Granularity;
    if (!GRANULARITIES.includes(by)) return bad(`by must be one of ${GRANULARITIES.join(', ')}`, 'by');
    const includeUnbilled = q.get('include_unbilled') === 'true';

    await svc.ledger.flush();
    const file = await buildExport({
      format,
      by,
      calls: ledgerStoreCalls(svc.store.ledger, range.range),
      prices,
      includeUnbilled,
    });
    const name = `${file.kind}-${q.get('from')}_${q.get('to')}.${file.extension}`;
    res.writeHead(200, {
      'content-type': file.contentType,
      'content-length': file.body.length,
      'content-disposition': `attachment; filename="${name}"`,
      'x-tollgate-export-rows': String(file.rows),
      'x-tollgate-export-usd': formatUsd(file.totalNanos),
    });
    res.end(file.body);
  };
  return [{ method: 'GET', path: '/admin/v1/export', handler: guarded(svc, handler) }];
}
