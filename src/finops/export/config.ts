import { z } from 'zod';

/**
 * The `finops:` section of tollgate.yaml. With `export_dir` set, the running gateway writes
 * yesterday's files there once a day at `daily_at` (UTC) and, on Mondays, last ISO week's
 * per-cost-center summary. Every field has a default: an absent section exports nothing.
 */
export const finopsSchema = z
  .object({
    /** Directory for scheduled exports; null = no scheduled exports. */
    export_dir: z.string().min(1).nullable().default(null),
    /** UTC time of day the previous day's files are written, HH:MM. */
    daily_at: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a UTC time of day HH:MM, e.g. 00:15')
      .default('00:15'),
    /** csv / parquet: the allocation table; focus / focus-parquet: FOCUS 1.3. */
    formats: z
      .array(z.enum(['csv', 'parquet', 'focus', 'focus-parquet']))
      .min(1)
      .default(['csv', 'parquet', 'focus']),
    /** Mondays: summary-YYYY-Www.csv, spend per cost center and team for the previous ISO week. */
    weekly_summary: z.boolean().default(true),
  })
  .strict();

export type FinopsSettings = z.infer<typeof finopsSchema>;

/** Minutes after UTC midnight of a validated HH:MM. */
export function minutesOfDay(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}
