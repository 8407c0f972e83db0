import type { IncomingMessage, ServerResponse } from 'node:http';
import { anthropicMessagesIngress } from '../../ingress/anthropicMessages.ts';
import { handleCall } from '../../pipeline/index.ts';
import type { Services } from '../services.ts';
import type { Route } from './types.ts';

/** Anthropic's Messages API: the official SDK works with `baseURL` = the gateway and a Tollgate key. */
export function anthropicRoutes(svc: Services): Route[] {
  const messages = (req: IncomingMessage, res: ServerResponse) =>
    handleCall(svc, anthropicMessagesIngress, req, res);
  return [{ method: 'POST', path: '/v1/messages', handler: messages }];
}
