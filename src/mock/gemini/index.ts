import type { Exchange } from '../exchange.ts';
import type { MockRoute } from '../providerRoutes.ts';
import { planGenerate } from './plan.ts';
import { parseGenerateContent } from './request.ts';
import { sendGenerate, sendGoogleError, sendGoogleStatusFault, streamGenerate } from './respond.ts';

export { geminiPromptTokens } from './plan.ts';

/** The one API key the mock Gemini accepts (x-goog-api-key header or ?key=). */
export const MOCK_GEMINI_API_KEY = 'AIzaSyMock-Gemini-Key-000000000000000';

const GENERATE_PATH = /^\/(v1|v1beta|v1alpha)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;
/** Model families the mock serves; any other name gets Gemini's 404. */
const SERVED_MODEL = /^(gemini|gemma)-/;

function apiKey(ex: Exchange): string | null {
  const header = ex.req.headers['x-goog-api-key'];
  if (typeof header === 'string') return header;
  const url = new URL(ex.req.url ?? '/', 'http://mock');
  return url.searchParams.get('key');
}

/** True when the request may go on; otherwise Google's answer has been sent. */
function authorized(ex: Exchange): boolean {
  const key = apiKey(ex);
  if (key === null || key === '') {
    sendGoogleError(
      ex,
      403,
      'PERMISSION_DENIED',
      "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    );
    return false;
  }
  if (key !== MOCK_GEMINI_API_KEY) {
    sendGoogleError(ex, 400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'API_KEY_INVALID',
        domain: 'googleapis.com',
        metadata: { service: 'generativelanguage.googleapis.com' },
      },
    ]);
    return false;
  }
  return true;
}

/**
 * Gemini's generateContent and streamGenerateContent (SSE with `alt=sse`, else a JSON
 * array): the API key checked, the request validated as Gemini does, then the answer with
 * the mock's knobs and faults and Google-style errors.
 */
export const geminiRoute: MockRoute = {
  name: 'gemini',
  matches: (method, path) => method === 'POST' && GENERATE_PATH.test(decodeURIComponent(path)),
  async handle(ex, path, body) {
    const [, version, model, method] = GENERATE_PATH.exec(decodeURIComponent(path)) ?? [];
    if (!authorized(ex)) return;
    if (body.kind !== 'json') {
      return sendGoogleError(ex, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Unexpected token.');
    }
    if (!SERVED_MODEL.test(model ?? '')) {
      return sendGoogleError(
        ex,
        404,
        'NOT_FOUND',
        `models/${model} is not found for API version ${version}, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
      );
    }
    const parsed = parseGenerateContent(body.value);
    if (!parsed.ok) return sendGoogleError(ex, 400, 'INVALID_ARGUMENT', parsed.message);
    if (await sendGoogleStatusFault(ex)) return;
    // `timeout`: hold the request open; the client's timeout or close() ends it.
    if (ex.knobs.fault === 'timeout') return;
    const plan = planGenerate(parsed.body, model ?? '', ex.knobs);
    if (method === 'generateContent') return sendGenerate(ex, plan);
    const sse = new URL(ex.req.url ?? '/', 'http://mock').searchParams.get('alt') === 'sse';
    return streamGenerate(ex, plan, sse);
  },
};
