/** A small client for the admin API, used by every CLI command except start and mock. */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly masterKey: string | undefined,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (!this.masterKey) {
      throw new CliError('no master key: set TOLLGATE_MASTER_KEY or pass --master-key');
    }
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: { authorization: `Bearer ${this.masterKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(
        `cannot reach the gateway at ${this.baseUrl}: ${(err as Error).cause ?? (err as Error).message}`,
      );
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    if (!res.ok) {
      const msg = (parsed as { error?: { message?: string; code?: string } })?.error;
      throw new CliError(`${res.status} ${msg?.code ?? ''}: ${msg?.message ?? text}`.trim());
    }
    return parsed as T;
  }
}

export class CliError extends Error {}
