import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type FinopsSettings, minutesOfDay } from './config.ts';
import { encodeCsv } from './encode.ts';
import { buildExport, type ExportFormat } from './exporter.ts';
import { DAY_MS, dayLabel, isoWeekLabel, startOfDay, startOfIsoWeek } from './range.ts';
import type { CallSource } from './source.ts';
import type { PriceLookup } from './split.ts';
import { buildCostCenterSummary, costCenterTable } from './summary.ts';

export interface SchedulerLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SchedulerDeps {
  settings: FinopsSettings;
  calls: CallSource;
  prices: PriceLookup;
  /** Makes rows still queued in the ledger writer durable before a file is cut. */
  flush?: () => Promise<void>;
  clock: () => number;
  log?: SchedulerLog;
}

export interface ExportRun {
  /** The day exported (YYYY-MM-DD) and the ISO week summarized, when a summary is configured. */
  day: string | null;
  week: string | null;
  written: string[];
  skipped: string[];
}

/** After a failed run, try again this soon rather than a day later. */
const RETRY_MS = 10 * 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Scheduled exports. Each run writes the files of the most recent day whose `daily_at` has
 * passed (yesterday, once today's time has come) and the summary of the most recent ISO week
 * whose Monday `daily_at` has passed. File names are the idempotency key: a present file is
 * never rewritten, so replicas sharing a directory, restarts and catch-up runs are harmless.
 * Runs are serialized; the timer is unref'd and cleared on close.
 */
export class ExportScheduler {
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly deps: SchedulerDeps) {}

  /** Catches up at once, then runs at every `daily_at`. A no-op without `export_dir`. */
  start(): void {
    if (this.deps.settings.export_dir === null || this.closed) return;
    this.arm(0);
  }

  /** Writes whatever is due at `now` and not yet on disk. */
  runDue(now: number): Promise<ExportRun> {
    const run = this.chain.then(() => this.run(now));
    this.chain = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.chain;
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => void this.tick(), Math.min(Math.max(delayMs, 0), MAX_TIMER_MS));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = null;
    let delay: number;
    try {
      await this.runDue(this.deps.clock());
      const now = this.deps.clock();
      delay = nextRunAt(now, this.dailyAtMs()) - now;
    } catch (err) {
      this.deps.log?.error({ err }, 'scheduled FinOps export failed; retrying in 10 minutes');
      delay = RETRY_MS;
    }
    if (!this.closed) this.arm(Math.max(delay, 1000));
  }

  private dailyAtMs(): number {
    return minutesOfDay(this.deps.settings.daily_at) * 60_000;
  }

  private async run(now: number): Promise<ExportRun> {
    const { settings } = this.deps;
    const dir = settings.export_dir;
    const result: ExportRun = { day: null, week: null, written: [], skipped: [] };
    if (dir === null) return result;
    await mkdir(dir, { recursive: true });
    await this.deps.flush?.();

    const day = dueDay(now, this.dailyAtMs());
    result.day = dayLabel(day);
    const range = { fromMs: day, toMs: day + DAY_MS };
    for (const format of new Set<ExportFormat>(settings.formats)) {
      await this.once(dir, dailyFileName(format, result.day), result, async () => {
        const file = await buildExport({
          format,
          by: 'request',
          calls: this.deps.calls(range),
          prices: this.deps.prices,
        });
        return file.body;
      });
    }

    if (settings.weekly_summary) {
      const weekStart = dueWeek(now, this.dailyAtMs());
      result.week = isoWeekLabel(weekStart);
      const week = { label: result.week, startMs: weekStart };
      await this.once(dir, `summary-${result.week}.csv`, result, async () => {
        const rows = await buildCostCenterSummary(
          this.deps.calls({ fromMs: weekStart, toMs: weekStart + 7 * DAY_MS }),
        );
        return encodeCsv(costCenterTable(rows, week));
      });
    }
    if (result.written.length > 0)
      this.deps.log?.info({ dir, files: result.written }, 'FinOps export written');
    return result;
  }

  /** Builds and publishes `name` unless it exists; publishing never replaces a file. */
  private async once(
    dir: string,
    name: string,
    result: ExportRun,
    build: () => Promise<Buffer>,
  ): Promise<void> {
    const path = join(dir, name);
    if (existsSync(path)) {
      result.skipped.push(name);
      return;
    }
    const tmp = join(dir, `.${name}.${randomUUID()}.tmp`);
    await writeFile(tmp, await build());
    try {
      await link(tmp, path);
      result.written.push(name);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EEXIST') result.skipped.push(name);
      else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EXDEV') {
        // Filesystems without hard links: a rename still never exposes a half-written file.
        await rename(tmp, path);
        result.written.push(name);
        return;
      } else throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }
}

/** allocation-2026-11-22.csv, allocation-….parquet, focus-….csv, focus-….parquet. */
export function dailyFileName(format: ExportFormat, day: string): string {
  const kind = format === 'focus' || format === 'focus-parquet' ? 'focus' : 'allocation';
  const extension = format === 'parquet' || format === 'focus-parquet' ? 'parquet' : 'csv';
  return `${kind}-${day}.${extension}`;
}

/** Midnight UTC of the day the most recent `daily_at` (ms after midnight) exports. */
export function dueDay(now: number, dailyAtMs: number): number {
  const today = startOfDay(now);
  return now >= today + dailyAtMs ? today - DAY_MS : today - 2 * DAY_MS;
}

/** Monday 00:00 UTC of the ISO week the most recent Monday `daily_at` summarizes. */
export function dueWeek(now: number, dailyAtMs: number): number {
  const monday = startOfIsoWeek(now);
  return now >= monday + dailyAtMs ? monday - 7 * DAY_MS : monday - 14 * DAY_MS;
}

export function nextRunAt(now: number, dailyAtMs: number): number {
  const today = startOfDay(now) + dailyAtMs;
  return now < today ? today : today + DAY_MS;
}
