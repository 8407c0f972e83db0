import { describe, expect, it } from 'vitest';
import { CountersUnavailableError, classifyRedisError } from './errors.ts';

function replyError(message: string): Error {
  const err = new Error(message);
  err.name = 'ReplyError';
  return err;
}

function reasonOf(err: Error): string | null {
  return err instanceof CountersUnavailableError ? err.reason : null;
}

describe('classifyRedisError', () => {
  it('connection failures and timeouts are unreachable', () => {
    for (const message of [
      "Stream isn't writeable and enableOfflineQueue options is false",
      'Connection is closed.',
      'Command timed out',
      'Reached the max retries per request limit (which is 0).',
    ]) {
      const err = classifyRedisError(new Error(message), 'budget reserve');
      expect(reasonOf(err)).toBe('unreachable');
      expect(err.message).toBe(`budget reserve: Redis is unreachable: ${message}`);
    }
  });

  it('replies that mean "not now" are busy; our unseeded marker is not_seeded', () => {
    expect(reasonOf(classifyRedisError(replyError('LOADING Redis is loading'), 'x'))).toBe('busy');
    expect(reasonOf(classifyRedisError(replyError('BUSY script running'), 'x'))).toBe('busy');
    expect(reasonOf(classifyRedisError(replyError('TOLLGATE_UNSEEDED budget counters'), 'x'))).toBe(
      'not_seeded',
    );
  });

  it('other error replies are bugs, passed on as plain errors without the ERR prefix', () => {
    const err = classifyRedisError(replyError('ERR reservation id already open: a'), 'x');
    expect(err).not.toBeInstanceOf(CountersUnavailableError);
    expect(err.message).toBe('reservation id already open: a');
  });
});
