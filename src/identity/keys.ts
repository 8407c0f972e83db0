import { denial } from '../errors.ts';
import { fail, ok, type Result } from '../result.ts';
import type { EntityStore, KeyRecord, KeyScopes, RetiredSecret } from '../store/interface.ts';
import { generateKeySecret, hashSecret, newId, secretPrefix } from './secrets.ts';

export interface NewKey {
  name?: string | null;
  org: string;
  team: string;
  project: string;
  env: string;
  user?: string | null;
  costCenter?: string | null;
  models?: string[] | null;
  expiresAt?: number | null;
  metadata?: Record<string, unknown>;
  scopes?: KeyScopes;
  /** Only for demo mode: a known secret so it can be printed at every start. */
  secret?: string;
}

/**
 * Keys live in memory, indexed by hash, so authentication costs one hash and one map lookup.
 * Every change writes through to the store first, then to the map: revocation is immediate.
 */
export class KeyService {
  private byHash = new Map<string, KeyRecord>();
  private byId = new Map<string, KeyRecord>();
  private retired = new Map<string, RetiredSecret>();
  private hashMemo = new Map<string, string>();

  constructor(
    private readonly store: EntityStore,
    private readonly clock: () => number,
  ) {}

  /** (Re)reads every key; the maps are swapped whole, so calls never see a half-loaded set. */
  async load(): Promise<void> {
    const keys = await this.store.listKeys({ includeRevoked: true });
    const retired = await this.store.listRetiredSecrets();
    this.byHash = new Map(keys.map((k) => [k.hash, k]));
    this.byId = new Map(keys.map((k) => [k.id, k]));
    this.retired = new Map(retired.map((r) => [r.hash, r]));
  }

  authenticate(secret: string | null): Result<KeyRecord> {
    if (!secret) {
      return fail(
        denial(
          'missing_api_key',
          'No API key provided. Send it as "Authorization: Bearer <key>" (or x-api-key).',
        ),
      );
    }
    const hash = this.hashOf(secret);
    const key = this.byHash.get(hash);
    if (!key) {
      const retired = this.retired.get(hash);
      if (retired) {
        const at = new Date(retired.retiredAt).toISOString();
        return fail(
          denial(
            'key_revoked',
            `This secret of API key ${retired.keyId} was rotated at ${at}; use the new one.`,
          ),
        );
      }
      return fail(denial('invalid_api_key', 'Invalid API key.'));
    }
    if (key.revokedAt !== null) return fail(denial('key_revoked', `API key ${key.id} has been revoked.`));
    if (key.expiresAt !== null && key.expiresAt <= this.clock()) {
      return fail(
        denial('key_expired', `API key ${key.id} expired at ${new Date(key.expiresAt).toISOString()}.`),
      );
    }
    return ok(key);
  }

  async create(input: NewKey): Promise<{ key: KeyRecord; secret: string }> {
    const secret = input.secret ?? generateKeySecret();
    const key: KeyRecord = {
      id: newId('key'),
      hash: hashSecret(secret),
      prefix: secretPrefix(secret),
      name: input.name ?? null,
      org: input.org,
      team: input.team,
      project: input.project,
      env: input.env,
      user: input.user ?? null,
      costCenter: input.costCenter ?? null,
      models: input.models ?? null,
      expiresAt: input.expiresAt ?? null,
      revokedAt: null,
      createdAt: this.clock(),
      rotatedFrom: null,
      metadata: input.metadata ?? {},
      scopes: input.scopes ?? {},
    };
    await this.store.insertKey(key);
    this.remember(key);
    return { key, secret };
  }

  findBySecret(secret: string): KeyRecord | undefined {
    return this.byHash.get(hashSecret(secret));
  }

  get(id: string): KeyRecord | undefined {
    return this.byId.get(id);
  }

  list(filter: { team?: string; project?: string; includeRevoked?: boolean } = {}): KeyRecord[] {
    return [...this.byId.values()].filter(
      (k) =>
        (filter.includeRevoked || k.revokedAt === null) &&
        (!filter.team || k.team === filter.team) &&
        (!filter.project || k.project === filter.project),
    );
  }

  async revoke(id: string): Promise<KeyRecord | undefined> {
    const key = this.byId.get(id);
    if (!key) return undefined;
    if (key.revokedAt !== null) return key;
    const revoked = { ...key, revokedAt: this.clock() };
    await this.store.updateKey(revoked);
    this.remember(revoked);
    return revoked;
  }

  async update(
    id: string,
    patch: Partial<Pick<KeyRecord, 'name' | 'models' | 'expiresAt' | 'metadata' | 'scopes'>>,
  ) {
    const key = this.byId.get(id);
    if (!key) return undefined;
    const next = { ...key, ...patch };
    await this.store.updateKey(next);
    this.remember(next);
    return next;
  }

  /**
   * A new secret for the same key: the id, binding and budgets stay, so spend history and
   * key-level budgets carry on. The old secret stops working at once (no grace period).
   */
  async rotate(id: string): Promise<{ key: KeyRecord; secret: string } | undefined> {
    const old = this.byId.get(id);
    if (!old || old.revokedAt !== null) return undefined;
    const secret = generateKeySecret();
    const now = this.clock();
    const rotated: KeyRecord = {
      ...old,
      hash: hashSecret(secret),
      prefix: secretPrefix(secret),
      metadata: { ...old.metadata, rotatedAt: new Date(now).toISOString() },
    };
    const retired: RetiredSecret = { hash: old.hash, keyId: old.id, retiredAt: now };
    await this.store.retireSecret(retired);
    await this.store.updateKey(rotated);
    this.retired.set(retired.hash, retired);
    this.remember(rotated);
    return { key: rotated, secret };
  }

  /**
   * sha256 per request was a visible share of the hot path; the hashes of secrets that belong to
   * a key are memoized (bounded, and only for known secrets so random bad keys cannot grow it).
   */
  private hashOf(secret: string): string {
    const memo = this.hashMemo.get(secret);
    if (memo !== undefined) return memo;
    const hash = hashSecret(secret);
    if (this.byHash.has(hash)) {
      if (this.hashMemo.size >= 10_000) this.hashMemo.clear();
      this.hashMemo.set(secret, hash);
    }
    return hash;
  }

  private remember(k: KeyRecord): void {
    const previous = this.byId.get(k.id);
    if (previous) this.byHash.delete(previous.hash);
    this.byId.set(k.id, k);
    this.byHash.set(k.hash, k);
  }
}

/** A read key opens its team's dashboard; it never authorizes an LLM call. */
export function isDashboardReadKey(k: KeyRecord): boolean {
  return k.scopes.role === 'dashboard_read';
}

/** What an API response may show about a key: never the hash. */
export function publicKey(k: KeyRecord) {
  const { hash: _hash, ...rest } = k;
  return {
    ...rest,
    expiresAt: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString(),
    revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
    createdAt: new Date(k.createdAt).toISOString(),
  };
}
