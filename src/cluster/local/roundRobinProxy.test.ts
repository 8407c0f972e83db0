import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './freePort.ts';
import { REPLICA_HEADER, type RoundRobinProxy, startRoundRobinProxy } from './roundRobinProxy.ts';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  custom: string | undefined;
  body: string;
}

const servers: Server[] = [];
let proxy: RoundRobinProxy | null = null;

afterEach(async () => {
  await proxy?.close();
  proxy = null;
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function readAll(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

/** An upstream that answers with its name and what it received. */
async function upstream(name: string, seen: Seen[] = []): Promise<string> {
  const server = createServer((req, res) => {
    void readAll(req).then((body) => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        auth: req.headers.authorization,
        custom: req.headers['x-custom'] as string | undefined,
        body,
      });
      res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': name });
      res.end(JSON.stringify({ name }));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('round-robin proxy', () => {
  it('sends request i to upstream i mod N with method, path, headers and body, and names it in a header', async () => {
    const seen: Seen[] = [];
    const urls = [await upstream('a', seen), await upstream('b', seen), await upstream('c', seen)];
    proxy = await startRoundRobinProxy({ upstreams: urls });
    const answers: Array<{ status: number; replica: string | null; upstream: string | null; body: string }> =
      [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${proxy.url}/v1/chat/completions?n=${i}`, {
        method: 'POST',
        headers: { authorization: 'Bearer k', 'x-custom': `v${i}`, 'content-type': 'application/json' },
        body: JSON.stringify({ i }),
      });
      answers.push({
        status: res.status,
        replica: res.headers.get(REPLICA_HEADER),
        upstream: res.headers.get('x-upstream'),
        body: await res.text(),
      });
    }
    expect(answers.map((a) => [a.status, a.replica, a.upstream])).toEqual([
      [201, '1', 'a'],
      [201, '2', 'b'],
      [201, '3', 'c'],
      [201, '1', 'a'],
    ]);
    expect(answers[1]?.body).toBe('{"name":"b"}');
    expect(seen).toEqual(
      [0, 1, 2, 3].map((i) => ({
        method: 'POST',
        url: `/v1/chat/completions?n=${i}`,
        auth: 'Bearer k',
        custom: `v${i}`,
        body: `{"i":${i}}`,
      })),
    );
    const get = await fetch(`${proxy.url}/v1/models`);
    expect(get.headers.get(REPLICA_HEADER)).toBe('2');
    expect(seen[4]).toEqual({
      method: 'GET',
      url: '/v1/models',
      auth: undefined,
      custom: undefined,
      body: '',
    });
    expect(proxy.served()).toEqual([2, 2, 1]);
  });

  it('streams the response: the first chunk arrives while the upstream still holds the rest', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      void held.then(() => res.end('data: [DONE]\n\n'));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    proxy = await startRoundRobinProxy({
      upstreams: [`http://127.0.0.1:${(server.address() as AddressInfo).port}`],
    });
    const res = await fetch(`${proxy.url}/stream`, { method: 'POST', body: '{}' });
    if (!res.body) throw new Error('no response body');
    const reader = res.body.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: first\n\n');
    release();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read())
      rest += new TextDecoder().decode(r.value);
    expect(rest).toBe('data: [DONE]\n\n');
  });

  it('skips a replica that refuses connections; 502 replica_unreachable when none accepts', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const up = await upstream('b');
    proxy = await startRoundRobinProxy({ upstreams: [down, up] });
    const replicas: Array<string | null> = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${proxy.url}/x`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(201);
      replicas.push(res.headers.get(REPLICA_HEADER));
    }
    expect(replicas).toEqual(['2', '2', '2']);
    expect(proxy.served()).toEqual([0, 3]);

    await proxy.close();
    proxy = await startRoundRobinProxy({ upstreams: [down] });
    const res = await fetch(`${proxy.url}/x`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error.code).toBe('replica_unreachable');
    expect(body.error.type).toBe('proxy_error');
    expect(body.error.message).toBe('no replica accepted the connection (replica 1: ECONNREFUSED)');
  });
});
