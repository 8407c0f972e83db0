import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** Who is looking: the master key sees everything; a team read key sees only its team. */
export type Viewer = { role: 'admin' } | { role: 'team'; team: string; keyId: string };

export const SESSION_COOKIE = 'tollgate_dash';
export const SESSION_TTL_MS = 8 * 3_600_000;

interface TokenPayload {
  r: 'admin' | 'team';
  t?: string;
  k?: string;
  exp: number;
}

/**
 * Session tokens are HMAC-signed claims (role, team, key id, expiry) — never the raw key. The
 * signing secret lives in this process only, so a restart signs everyone out.
 */
export class SessionSigner {
  private readonly secret: Buffer;

  constructor(
    private readonly clock: () => number,
    secret: Buffer = randomBytes(32),
  ) {
    this.secret = secret;
  }

  issue(viewer: Viewer): { token: string; expiresAt: number } {
    const exp = this.clock() + SESSION_TTL_MS;
    const payload: TokenPayload =
      viewer.role === 'admin' ? { r: 'admin', exp } : { r: 'team', t: viewer.team, k: viewer.keyId, exp };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return { token: `${body}.${this.sign(body)}`, expiresAt: exp };
  }

  verify(token: string | undefined): Viewer | null {
    if (!token) return null;
    const dot = token.indexOf('.');
    if (dot <= 0) return null;
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.sign(body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let payload: TokenPayload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenPayload;
    } catch {
      return null;
    }
    if (typeof payload.exp !== 'number' || payload.exp <= this.clock()) return null;
    if (payload.r === 'admin') return { role: 'admin' };
    if (payload.r === 'team' && typeof payload.t === 'string' && typeof payload.k === 'string')
      return { role: 'team', team: payload.t, keyId: payload.k };
    return null;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}

export function cookieValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const raw = headers.cookie;
  if (!raw) return undefined;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(token: string, maxAgeMs: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxAgeMs / 1000)}`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0`;
}
