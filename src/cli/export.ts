import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { GRANULARITIES, type Granularity } from '../finops/export/allocation.ts';
import { dayRange, type TimeRange } from '../finops/export/range.ts';
import { CliError } from './client.ts';

/** The export formats, spelled out here so `tollgate --help` does not load the encoders. */
const FORMATS = ['csv', 'parquet', 'focus', 'focus-parquet'] as const;
type Format = (typeof FORMATS)[number];

interface ExportOpts {
  from: string;
  to: string;
  format: string;
  by: string;
  out?: string;
  db?: string;
  config?: string;
  includeUnbilled?: boolean;
}

interface Written {
  body: Buffer;
  rows: number;
  usd: string;
}

/**
 * `tollgate export`: offline from the SQLite file (--db, or the ledger named by --config) opened
 * read-only, or online through the admin API (--url, --master-key) when neither is given.
 */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('FinOps allocation table (CSV, Parquet) or FOCUS 1.3 charges for whole UTC days')
    .requiredOption('--from <date>', 'first UTC day, YYYY-MM-DD')
    .requiredOption('--to <date>', 'last UTC day, YYYY-MM-DD (included)')
    .option('--format <format>', FORMATS.join(' | '), 'csv')
    .option('--by <granularity>', 'request (one row per request id) | call | day', 'request')
    .option('--out <file>', 'write the file here instead of to stdout')
    .option('--db <file>', 'read this SQLite ledger directly, read-only (works while the gateway runs)')
    .option('-c, --config <file>', 'tollgate.yaml: its SQLite ledger (unless --db) and its prices')
    .option('--include-unbilled', 'allocation formats: also list $0 rows (denials, failed attempts)')
    .action(async (o: ExportOpts) => {
      const range = dayRange(o.from, o.to, { from: '--from', to: '--to' });
      if (!range.ok) throw new CliError(range.message);
      if (!(FORMATS as readonly string[]).includes(o.format))
        throw new CliError(`--format must be one of ${FORMATS.join(', ')}, got '${o.format}'`);
      if (!(GRANULARITIES as readonly string[]).includes(o.by))
        throw new CliError(`--by must be one of ${GRANULARITIES.join(', ')}, got '${o.by}'`);
      const format = o.format as Format;
      if (o.includeUnbilled && format.startsWith('focus'))
        throw new CliError('--include-unbilled applies to the allocation formats (csv, parquet) only');
      const by = o.by as Granularity;
      const global = program.opts<{ url?: string; masterKey?: string }>();
      const file =
        o.db || o.config
          ? await offline(o, format, by, range.range)
          : await online(global.url ?? 'http://127.0.0.1:4000', global.masterKey, o, format, by);
      if (o.out) {
        writeFileSync(o.out, file.body);
        console.error(`tollgate: wrote ${file.rows} rows ($${file.usd}) to ${o.out}`);
      } else process.stdout.write(file.body);
    });
}

async function offline(o: ExportOpts, format: Format, by: Granularity, range: TimeRange): Promise<Written> {
  // Loaded on demand: the encoders and the price data are not needed by other commands.
  const [{ buildExport }, { openLedgerFile }, { noPrices }, { formatUsd }] = await Promise.all([
    import('../finops/export/exporter.ts'),
    import('../finops/export/source.ts'),
    import('../finops/export/split.ts'),
    import('../money.ts'),
  ]);
  let dbFile = o.db;
  let prices = noPrices;
  if (o.config) {
    const [{ loadConfigFile }, { compileConfig }, { priceLookupFromConfig }] = await Promise.all([
      import('../config/load.ts'),
      import('../config/compile.ts'),
      import('../finops/export/wiring.ts'),
    ]);
    const raw = loadConfigFile(o.config);
    prices = priceLookupFromConfig(compileConfig(raw));
    dbFile ??= raw.storage.sqlite;
  }
  const path = dbFile ?? '';
  let ledger: ReturnType<typeof openLedgerFile>;
  try {
    ledger = openLedgerFile(path);
  } catch (err) {
    throw new CliError(`cannot read the ledger ${path}: ${(err as Error).message}`);
  }
  try {
    const file = await buildExport({
      format,
      by,
      calls: ledger.calls(range),
      prices,
      includeUnbilled: o.includeUnbilled,
    });
    return { body: file.body, rows: file.rows, usd: formatUsd(file.totalNanos) };
  } finally {
    ledger.close();
  }
}

async function online(
  baseUrl: string,
  masterKey: string | undefined,
  o: ExportOpts,
  format: Format,
  by: Granularity,
): Promise<Written> {
  if (!masterKey) {
    throw new CliError(
      'no master key: set TOLLGATE_MASTER_KEY or pass --master-key, or read the ledger directly with --db <file>',
    );
  }
  const q = new URLSearchParams({ from: o.from, to: o.to, format, by });
  if (o.includeUnbilled) q.set('include_unbilled', 'true');
  let res: Response;
  try {
    res = await fetch(new URL(`/admin/v1/export?${q}`, baseUrl), {
      headers: { authorization: `Bearer ${masterKey}` },
    });
  } catch (err) {
    throw new CliError(
      `cannot reach the gateway at ${baseUrl}: ${(err as Error).cause ?? (err as Error).message}`,
    );
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok) {
    let detail = body.toString();
    try {
      const e = (JSON.parse(detail) as { error?: { code?: string; message?: string } }).error;
      if (e) detail = `${e.code ?? ''}: ${e.message ?? ''}`;
    } catch {
      // keep the text
    }
    throw new CliError(`${res.status} ${detail}`.trim());
  }
  return {
    body,
    rows: Number(res.headers.get('x-tollgate-export-rows') ?? 0),
    usd: res.headers.get('x-tollgate-export-usd') ?? '?',
  };
}
