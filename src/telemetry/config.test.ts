import { describe, expect, it } from 'vitest';
import { telemetrySchema } from './config.ts';

describe('telemetry config', () => {
  it('absent: Prometheus on /metrics, access log on, no prompts, no OTLP', () => {
    expect(telemetrySchema.parse(undefined)).toEqual({
      service_name: 'tollgate',
      prometheus: { enabled: true, path: '/metrics', require_master_key: false },
      logs: { access: true, prompts: { projects: [], max_bytes: 4096 } },
    });
  });

  it('OTLP defaults: both signals, one push a minute', () => {
    const t = telemetrySchema.parse({ otlp: { endpoint: 'http://collector:4318' } });
    expect(t.otlp).toEqual({
      endpoint: 'http://collector:4318',
      headers: {},
      interval_ms: 60_000,
      traces: true,
      metrics: true,
    });
  });

  it('refuses a metrics path that would shadow an API route, and unknown fields', () => {
    for (const path of ['/v1/metrics', '/admin', '/health', 'metrics', '/met rics'])
      expect(telemetrySchema.safeParse({ prometheus: { path } }).success).toBe(false);
    expect(telemetrySchema.safeParse({ prometheus: { path: '/internal/metrics' } }).success).toBe(true);
    expect(telemetrySchema.safeParse({ otlp: { endpoint: 'ftp://x' } }).success).toBe(false);
    expect(telemetrySchema.safeParse({ logs: { prompt: {} } }).success).toBe(false);
  });
});
