import { startMock } from './server.ts';
import type { MockOptions, MockServer } from './types.ts';

/** `tollgate mock`: serve the mock upstream until the process is stopped. */
export async function runMockCli(port: number, opts: Omit<MockOptions, 'port'> = {}): Promise<MockServer> {
  const mock = await startMock({ ...opts, port });
  process.stdout.write(`Mock OpenAI upstream listening on ${mock.url} (base URL ${mock.url}/v1)\n`);
  return mock;
}
