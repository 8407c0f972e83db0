import type { IncomingHttpHeaders } from 'node:http';
import { denial } from '../errors.ts';
import { isDashboardReadKey, type KeyService } from '../identity/keys.ts';
import { fail, type Result } from '../result.ts';
import type { KeyRecord } from '../store/interface.ts';

/** The key a client sent: OpenAI style (Authorization: Bearer) or Anthropic style (x-api-key). */
export function presentedSecret(headers: IncomingHttpHeaders): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m?.[1]) return m[1];
  }
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey.trim() !== '') return apiKey.trim();
  return null;
}

export function authenticate(keys: KeyService, headers: IncomingHttpHeaders): Result<KeyRecord> {
  const key = keys.authenticate(presentedSecret(headers));
  if (key.ok && isDashboardReadKey(key.value)) {
    return fail(
      denial(
        'insufficient_permissions',
        `API key ${key.value.id} is a dashboard read key: it opens its team's dashboard and cannot call models.`,
      ),
    );
  }
  return key;
}
