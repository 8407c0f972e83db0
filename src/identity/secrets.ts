import { createHash, randomBytes } from 'node:crypto';

/** Virtual key secrets are 32 random bytes; a fast hash is enough for secrets of that entropy. */
export function generateKeySecret(): string {
  return `tg-${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretPrefix(secret: string): string {
  return `${secret.slice(0, 9)}…`;
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(9).toString('base64url')}`;
}
