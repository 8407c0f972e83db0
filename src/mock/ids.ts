import { randomUUID } from 'node:crypto';

/** One fingerprint per process, like one deployed backend build. */
export const SYSTEM_FINGERPRINT = 'fp_m0ck5e7v3r';

export function completionId(): string {
  return `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 29)}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
