import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Path prefixes the panel must never shadow: the API, OpenAPI, probes, metrics, Socket.IO and MCP. */
export const RESERVED_PREFIXES = ['/api', '/docs', '/health', '/metrics', '/socket.io', '/mcp'];

/**
 * The panel's Content-Security-Policy: its own scripts and styles only (vite emits no inline
 * script), REST and Socket.IO on the same origin, nothing from elsewhere.
 */
export const PANEL_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function isReservedPath(path: string): boolean {
  return RESERVED_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}-`));
}

/**
 * Where `vite build` put the panel: apps/panel/dist, seen from the TypeScript sources (tests) or
 * from the compiled dist/apps/server/src/panel (npm start). PANEL_DIR overrides both.
 */
export function findPanelDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = [
    env.PANEL_DIR,
    resolve(__dirname, '../../../panel/dist'),
    resolve(__dirname, '../../../../../apps/panel/dist'),
    resolve(process.cwd(), 'apps/panel/dist'),
  ].filter((c): c is string => typeof c === 'string' && c.length > 0);
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? null;
}

/**
 * Serves the built panel at `/`: hashed files under /assets are cached for a year, index.html is
 * revalidated every time, and any other GET that wants HTML (a client-side route such as /tasks)
 * gets index.html. Reserved prefixes and non-GET requests fall through to Nest untouched.
 */
export function panelMiddleware(dir: string): RequestHandler {
  const index = join(dir, 'index.html');
  const files = express.static(dir, {
    index: false,
    fallthrough: true,
    redirect: false,
    dotfiles: 'ignore',
    setHeaders: (res, path) => {
      res.setHeader('Cache-Control', path.includes(`${join(dir, 'assets')}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  const sendIndex = (res: Response, next: NextFunction) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.sendFile(index, (err) => {
      if (err) next(err);
    });
  };
  return (req: Request, res: Response, next: NextFunction) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || isReservedPath(req.path)) return next();
    res.setHeader('Content-Security-Policy', PANEL_CSP);
    if (req.path === '/' || req.path === '/index.html') return sendIndex(res, next);
    files(req, res, () => {
      // Not a file: a client-side route gets the app; a missing asset gets the API's 404.
      if (req.path.startsWith('/assets/') || !req.accepts('html')) return next();
      sendIndex(res, next);
    });
  };
}
