import type { IncomingMessage, ServerResponse } from 'node:http';
import { denial } from '../errors.ts';
import { sendError } from './http.ts';
import type { Handler, Route } from './routes/types.ts';

interface Compiled {
  route: Route;
  segments: string[];
}

/** Exact paths in a map (the hot routes), parameterised ones matched by segment. */
export class Router {
  private exact = new Map<string, Map<string, Handler>>();
  private patterns: Compiled[] = [];

  constructor(routes: Route[]) {
    for (const route of routes) {
      if (route.path.includes('/:')) {
        this.patterns.push({ route, segments: route.path.split('/') });
      } else {
        const byMethod = this.exact.get(route.path) ?? new Map<string, Handler>();
        this.exact.set(route.path, byMethod);
        byMethod.set(route.method, route.handler);
      }
    }
  }

  dispatch(req: IncomingMessage, res: ServerResponse): unknown {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = (q < 0 ? url : url.slice(0, q)).replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const byMethod = this.exact.get(path);
    if (byMethod) {
      const handler = byMethod.get(method);
      if (handler) return handler(req, res, {});
      req.resume();
      return sendError(res, denial('method_not_allowed', `${method} is not allowed on ${path}.`), {
        allow: [...byMethod.keys()].join(', '),
      });
    }
    const parts = path.split('/');
    let pathMatched = false;
    for (const { route, segments } of this.patterns) {
      if (segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let match = true;
      for (let i = 0; i < segments.length; i++) {
        const seg = segments[i] ?? '';
        const part = parts[i] ?? '';
        if (seg.startsWith(':')) {
          try {
            params[seg.slice(1)] = decodeURIComponent(part);
          } catch {
            match = false;
            break;
          }
        } else if (seg !== part) {
          match = false;
          break;
        }
      }
      if (!match) continue;
      pathMatched = true;
      if (route.method === method) return route.handler(req, res, params);
    }
    req.resume();
    if (pathMatched)
      return sendError(res, denial('method_not_allowed', `${method} is not allowed on ${path}.`));
    return sendError(res, denial('route_not_found', `No route for ${method} ${path}.`));
  }
}
