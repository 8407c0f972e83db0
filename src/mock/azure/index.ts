import { type Exchange, sendJson } from '../exchange.ts';
import { MALFORMED_JSON_MESSAGE, sendInvalidRequest } from '../openaiErrors.ts';
import type { MockRoute } from '../providerRoutes.ts';
import { handleChatCompletions, handleEmbeddings } from '../routes.ts';

/** The one key the mock Azure resource accepts, in the `api-key` header. */
export const MOCK_AZURE_API_KEY = 'mock-azure-key-00000000000000000000000';

const DEPLOYMENT_PATH = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/;
const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;

/** Azure's own error envelope: `{error: {code, message}}`, the code a string. */
function sendAzureError(ex: Exchange, status: number, code: string, message: string): void {
  sendJson(ex, status, { error: { code, message } });
}

/**
 * Azure OpenAI's deployment routes. Azure's own checks come first — the `api-version` query
 * (without a supported one the route does not exist) and the `api-key` header — then the
 * OpenAI mock's handlers answer, with the deployment as the model: Azure ignores the body's
 * `model` and serves the deployment's.
 */
export const azureRoute: MockRoute = {
  name: 'azure',
  matches: (method, path) => method === 'POST' && DEPLOYMENT_PATH.test(path),
  async handle(ex, path, body) {
    const [, deployment, operation] = DEPLOYMENT_PATH.exec(path) ?? [];
    const version = new URL(ex.req.url ?? '/', 'http://mock').searchParams.get('api-version');
    if (version === null || !API_VERSION.test(version)) {
      return sendAzureError(ex, 404, '404', 'Resource not found');
    }
    if (ex.req.headers['api-key'] !== MOCK_AZURE_API_KEY) {
      return sendAzureError(
        ex,
        401,
        '401',
        'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
      );
    }
    if (body.kind !== 'json') return sendInvalidRequest(ex, MALFORMED_JSON_MESSAGE);
    const request =
      typeof body.value === 'object' && body.value !== null && !Array.isArray(body.value)
        ? { ...body.value, model: decodeURIComponent(deployment ?? '') }
        : body.value;
    return operation === 'embeddings' ? handleEmbeddings(ex, request) : handleChatCompletions(ex, request);
  },
};
