import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

export interface BufferedResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface BufferedCall {
  response: Promise<BufferedResponse>;
  /** Aborts the request (queued or in flight); a no-op once the response has ended. */
  abort(reason: Error): void;
}

/**
 * A request whose whole response is wanted in memory (JSON answers). It talks to undici's
 * dispatcher directly instead of through `request()`: no Readable body, no async iterator and no
 * AbortSignal per call — on a small JSON call those were a measurable share of the gateway's
 * added latency (bench/). Bodies past `maxBytes` abort the call.
 */
export function dispatchBuffered(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  maxBytes: number,
): BufferedCall {
  let controller: Dispatcher.DispatchController | null = null;
  let abortBeforeStart: Error | null = null;
  let done = false;
  let statusCode = 0;
  let headers: IncomingHttpHeaders = {};
  const chunks: Buffer[] = [];
  let size = 0;
  let resolve: (r: BufferedResponse) => void = () => {};
  let reject: (e: Error) => void = () => {};
  const response = new Promise<BufferedResponse>((res, rej) => {
    resolve = res;
    reject = rej;
  });

  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      if (abortBeforeStart) c.abort(abortBeforeStart);
    },
    onResponseStart(_c, status, responseHeaders) {
      statusCode = status;
      headers = responseHeaders;
    },
    onResponseData(c, chunk) {
      size += chunk.length;
      if (size > maxBytes) {
        c.abort(new Error(`response body larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    },
    onResponseEnd() {
      done = true;
      const body = chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, size);
      resolve({ statusCode, headers, body });
    },
    onResponseError(_c, err) {
      done = true;
      reject(err);
    },
  };
  try {
    dispatcher.dispatch(options, handler);
  } catch (err) {
    done = true;
    reject(err as Error);
  }
  return {
    response,
    abort(reason) {
      if (done) return;
      if (controller) controller.abort(reason);
      else abortBeforeStart = reason;
    },
  };
}
