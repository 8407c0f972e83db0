import { findPostgresBinaries, type PostgresBinaries } from '../../src/cluster/local/postgresServer.ts';

/** The server itself lives in src/cluster/local/ (`npm run cluster` starts one too). */
export {
  findPostgresBinaries,
  type PostgresBinaries,
  type PostgresServer,
  startPostgresServer,
} from '../../src/cluster/local/postgresServer.ts';

let warned = false;

/** Returns the binaries, or prints the one loud line and returns null so the suite can skip. */
export function postgresOrWarn(): PostgresBinaries | null {
  const found = findPostgresBinaries();
  if (!found && !warned) {
    warned = true;
    console.warn('SKIPPED: PostgreSQL not installed — Postgres tests did not run');
  }
  return found;
}
