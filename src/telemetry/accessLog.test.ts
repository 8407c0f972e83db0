import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AccessLog, LOG_REDACT_PATHS, truncated } from './accessLog.ts';
import { testRow } from './testRows.ts';

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  return { log, lines };
}

const prompts = (projects: string[], max_bytes = 4096) => ({
  access: true,
  prompts: { projects, max_bytes },
});

describe('AccessLog', () => {
  it('one info line with identity, outcome and exact cost; no prompt by default', () => {
    const { log, lines } = capture('info');
    new AccessLog(log, prompts([])).record(testRow(), {
      messages: [{ role: 'user', content: 'secret plan' }],
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      kind: 'access',
      msg: 'call',
      callId: 'call_1',
      keyId: 'key_1',
      team: 'search',
      costUsd: '0.0000015',
      reservedUsd: '40.000000001',
      status: 'ok',
    });
    expect(JSON.stringify(lines)).not.toContain('secret plan');
  });

  it('prompt only for an opted-in project, cut to max_bytes', () => {
    const { log, lines } = capture('info');
    const access = new AccessLog(log, prompts(['ranker'], 20));
    access.record(testRow(), { content: 'x'.repeat(100) });
    access.record(testRow({ project: 'other' }), { content: 'y'.repeat(100) });
    expect(lines[0]).toMatchObject({ prompt: '{"content":"xxxxxxxx', promptTruncated: true });
    expect(lines[1]?.prompt).toBeUndefined();
  });

  it('above info level it writes nothing', () => {
    const { log, lines } = capture('warn');
    const access = new AccessLog(log, prompts(['ranker']));
    access.record(testRow(), {});
    access.refusal('call_2', 'invalid_api_key', 401);
    expect(lines).toEqual([]);
  });

  it('LOG_REDACT_PATHS (the access logger and the gateway logger) hide keys, secrets and credential headers', () => {
    const lines: string[] = [];
    const log = pino({ redact: LOG_REDACT_PATHS }, { write: (l: string) => void lines.push(l) });
    log.info({
      key: 'sk-1',
      nested: { secret: 's-1' },
      req: { headers: { authorization: 'Bearer sk-2', 'x-api-key': 'sk-3', 'api-key': 'sk-4' } },
      headers: { authorization: 'Bearer sk-5' },
    });
    const text = lines.join('');
    for (const s of ['sk-1', 's-1', 'sk-2', 'sk-3', 'sk-4', 'sk-5']) expect(text).not.toContain(s);
    expect(text.match(/\[Redacted\]/g)).toHaveLength(6);
  });
});

describe('truncated', () => {
  it('never splits a UTF-8 character', () => {
    expect(truncated('abc', 10)).toEqual({ prompt: 'abc', promptTruncated: false });
    expect(truncated('aé', 2)).toEqual({ prompt: 'a', promptTruncated: true });
    expect(truncated('€€', 4)).toEqual({ prompt: '€', promptTruncated: true });
  });
});
