import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const STATIC_DIR = join(import.meta.dirname, 'static');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function load(file: string): Asset {
  const body = readFileSync(file);
  const ext = file.slice(file.lastIndexOf('.'));
  return {
    body,
    type: TYPES[ext] ?? 'application/octet-stream',
    etag: `"${createHash('sha1').update(body).digest('base64url')}"`,
  };
}

/** The page, its scripts and styles, and uPlot from node_modules; read once at startup, no build step. */
export function loadAssets(): Map<string, Asset> {
  const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot'));
  const assets = new Map<string, Asset>();
  for (const name of ['index.html', 'app.js', 'views.js', 'api.js', 'charts.js', 'style.css'])
    assets.set(name, load(join(STATIC_DIR, name)));
  assets.set('uPlot.esm.js', load(join(uplotDir, 'uPlot.esm.js')));
  assets.set('uPlot.min.css', load(join(uplotDir, 'uPlot.min.css')));
  return assets;
}

/** Assets revalidate by ETag (cheap 304s), so a new gateway version is picked up without a stale cache. */
export function sendAsset(req: IncomingMessage, res: ServerResponse, asset: Asset): void {
  const headers = {
    'content-type': asset.type,
    etag: asset.etag,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  };
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': asset.body.length });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}
