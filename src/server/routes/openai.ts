import type { IncomingMessage, ServerResponse } from 'node:http';
import { openAiChatIngress } from '../../ingress/openaiChat.ts';
import { openAiEmbeddingsIngress } from '../../ingress/openaiEmbeddings.ts';
import { openAiResponsesIngress } from '../../ingress/openaiResponses.ts';
import { authenticate } from '../../pipeline/authenticate.ts';
import { modelAllowed } from '../../pipeline/guard.ts';
import { handleCall } from '../../pipeline/index.ts';
import { sendError, sendJson } from '../http.ts';
import type { Services } from '../services.ts';
import type { Route } from './types.ts';

function listModels(svc: Services, req: IncomingMessage, res: ServerResponse): void {
  const key = authenticate(svc.keys, req.headers);
  if (!key.ok) {
    sendError(res, key.error);
    return;
  }
  const data = [...svc.config.models.values()]
    .filter((m) => modelAllowed(key.value, m.id))
    .map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.provider }));
  sendJson(res, 200, { object: 'list', data });
}

export function openAiRoutes(svc: Services): Route[] {
  const chat = (req: IncomingMessage, res: ServerResponse) => handleCall(svc, openAiChatIngress, req, res);
  const responses = (req: IncomingMessage, res: ServerResponse) =>
    handleCall(svc, openAiResponsesIngress, req, res);
  const embeddings = (req: IncomingMessage, res: ServerResponse) =>
    handleCall(svc, openAiEmbeddingsIngress, req, res);
  const models = (req: IncomingMessage, res: ServerResponse) => listModels(svc, req, res);
  return [
    { method: 'POST', path: '/v1/chat/completions', handler: chat },
    { method: 'POST', path: '/chat/completions', handler: chat },
    { method: 'POST', path: '/v1/responses', handler: responses },
    { method: 'POST', path: '/responses', handler: responses },
    { method: 'POST', path: '/v1/embeddings', handler: embeddings },
    { method: 'POST', path: '/embeddings', handler: embeddings },
    { method: 'GET', path: '/v1/models', handler: models },
    { method: 'GET', path: '/models', handler: models },
  ];
}
