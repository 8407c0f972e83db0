import type { Scenario } from './report.ts';

/** BENCH_SCALE shortens every run (e.g. 0.3 for a quick look); such runs do not write results. */
export const SCALE = Number(process.env.BENCH_SCALE ?? '1');

export const secs = (s: number) => Math.max(1, Math.round(s * SCALE));

/** The two scenarios every comparison shares: max throughput, and latency at a steady 500 req/s. */
export const THROUGHPUT: Scenario = {
  id: 'throughput',
  title: 'Max throughput, non-stream',
  kind: 'throughput',
  generator: 'autocannon',
  connections: 64,
  seconds: secs(3),
  stream: false,
};

export const STEADY: Scenario = {
  id: 'steady',
  title: '500 req/s steady, non-stream',
  kind: 'latency',
  generator: 'paced',
  connections: 16,
  rate: 500,
  seconds: secs(6),
  stream: false,
};
