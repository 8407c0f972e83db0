import type { MockRoute } from '../providerRoutes.ts';
import { parseConverse } from './converseRequest.ts';
import { planConverse } from './plan.ts';
import { sendAwsError, sendAwsStatusFault, sendConverse, streamConverse } from './respond.ts';
import { verifySigV4 } from './sigv4.ts';

export { converseInputTokens } from './plan.ts';
export { MOCK_AWS_ACCESS_KEY_ID, MOCK_AWS_SECRET_ACCESS_KEY } from './sigv4.ts';

const CONVERSE_PATH = /^\/model\/([^/]+)\/(converse|converse-stream)$/;

/**
 * Bedrock Runtime's Converse and ConverseStream: SigV4 checked for real against the mock's
 * known key pair, the request validated as Bedrock does, then the answer (JSON or binary
 * event stream) with the mock's knobs and faults.
 */
export const bedrockRoute: MockRoute = {
  name: 'bedrock',
  matches: (method, path) => method === 'POST' && CONVERSE_PATH.test(path),
  async handle(ex, path, body, rawBody) {
    const auth = verifySigV4(
      'POST',
      ex.req.url ?? path,
      ex.req.headers,
      Buffer.from(rawBody, 'utf8'),
      Date.now(),
    );
    if (auth) return sendAwsError(ex, auth.status, auth.type, auth.message);
    if (body.kind !== 'json') {
      return sendAwsError(
        ex,
        400,
        'ValidationException',
        'Malformed input request, please reformat your input and try again.',
      );
    }
    const parsed = parseConverse(body.value);
    if (!parsed.ok) return sendAwsError(ex, 400, 'ValidationException', parsed.message);
    if (await sendAwsStatusFault(ex)) return;
    // `timeout`: hold the request open; the client's timeout or close() ends it.
    if (ex.knobs.fault === 'timeout') return;
    const plan = planConverse(parsed.body, ex.knobs, ex.req.headers);
    const stream = CONVERSE_PATH.exec(path)?.[2] === 'converse-stream';
    return stream ? streamConverse(ex, plan) : sendConverse(ex, plan);
  },
};
