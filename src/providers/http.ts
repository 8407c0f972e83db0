import { Pool } from 'undici';
import type { ProviderEntry } from '../config/compile.ts';

/** One keep-alive connection pool per upstream origin, built once and shared. */
export class UpstreamClients {
  private pools = new Map<string, Pool>();

  pool(provider: ProviderEntry, url: URL): Pool {
    const key = `${provider.id} ${url.origin}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(url.origin, {
        connections: provider.connections,
        keepAliveTimeout: 30_000,
        pipelining: 1,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }
}
