/**
 * `npm run cluster` (`node --import tsx scripts/cluster.ts`): Redis, PostgreSQL, N gateway
 * replicas and a round-robin proxy on this machine. The code is in src/cluster/local/.
 */
import { runClusterCli } from '../src/cluster/local/cli.ts';

await runClusterCli(process.argv.slice(2));
