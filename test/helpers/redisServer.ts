import { redisServerInstalled } from '../../src/cluster/local/redisServer.ts';

/** The server itself lives in src/cluster/local/ (`npm run cluster` starts one too). */
export {
  type RedisServer,
  redisServerInstalled,
  startRedisServer,
} from '../../src/cluster/local/redisServer.ts';

const SKIP_MESSAGE = 'SKIPPED: redis-server not installed — Redis contract tests did not run';
let warned = false;

/** True when the Redis suites can run; otherwise prints the one loud line, once per test file. */
export function redisSuitesCanRun(): boolean {
  if (redisServerInstalled()) return true;
  if (!warned) {
    warned = true;
    console.warn(SKIP_MESSAGE);
  }
  return false;
}
