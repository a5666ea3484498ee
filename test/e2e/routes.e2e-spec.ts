import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { ANY_AUTHENTICATED, PERMISSION_KEY, PUBLIC_KEY } from '../../apps/server/src/access/decorators';
import { ALL_PERMISSIONS } from '../../apps/server/src/access/permissions';
import { API_PREFIX, UNPREFIXED } from '../../apps/server/src/configure-app';
import { expectError } from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';

/**
 * The only routes anyone may call without a credential (API.md). A new @Public() route must be
 * added here on purpose, with the reason.
 */
const ALLOWED_PUBLIC = new Set([
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
  'GET /health/live',
  'GET /health/ready',
  // Prometheus scrapes without a token unless METRICS_TOKEN is set (the handler checks it).
  'GET /metrics',
]);

/** Express routes that are not Nest controllers: the OpenAPI UI and document. */
const NON_NEST_ROUTE = /^\/docs(\/|-json$|-yaml$|$)/;

interface DiscoveredRoute {
  name: string;
  method: string;
  path: string;
  isPublic: boolean;
  permission: string | undefined;
}

interface ExpressLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

const asArray = (value: unknown): string[] => (Array.isArray(value) ? (value as string[]) : [typeof value === 'string' ? value : '']);
const join = (...parts: string[]) => `/${parts.flatMap((p) => p.split('/')).filter(Boolean).join('/')}`;

/** Every route handler of every controller the app registered, with what the guard will see. */
function discoverRoutes(app: TestApp, served: Set<string>): DiscoveredRoute[] {
  const modules = app.server.app.get(ModulesContainer);
  const reflector = app.server.app.get(Reflector);
  const scanner = new MetadataScanner();
  const routes: DiscoveredRoute[] = [];
  for (const module of modules.values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!controller) continue;
      const prototype = controller.prototype as Record<string, unknown>;
      for (const methodName of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[methodName] as (...args: unknown[]) => unknown;
        const requestMethod = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (requestMethod === undefined) continue;
        const method = RequestMethod[requestMethod];
        const targets = [handler, controller];
        for (const base of asArray(Reflect.getMetadata(PATH_METADATA, controller))) {
          for (const sub of asArray(Reflect.getMetadata(PATH_METADATA, handler))) {
            const local = join(base, sub);
            const prefixed = join(API_PREFIX, base, sub);
            // Served under /api/v1 unless excluded from the prefix (health, metrics).
            const path = served.has(`${method} ${prefixed}`) ? prefixed : local;
            routes.push({
              name: `${controller.name}.${methodName}`,
              method,
              path,
              isPublic: reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets) === true,
              permission: reflector.getAllAndOverride<string | undefined>(PERMISSION_KEY, targets),
            });
          }
        }
      }
    }
  }
  return routes;
}

/** method + path of every route express will dispatch to a handler. */
function expressRoutes(app: TestApp): Set<string> {
  const express = app.server.app.getHttpAdapter().getInstance() as { router: { stack: ExpressLayer[] } };
  const out = new Set<string>();
  for (const layer of express.router.stack) {
    if (!layer.route) continue;
    const methods = Object.keys(layer.route.methods);
    // A route for every method is an @All() handler, or Nest's not-found handler for a path
    // excluded from the prefix.
    if (methods.length > 20) out.add(`ALL ${layer.route.path}`);
    else for (const m of methods) out.add(`${m.toUpperCase()} ${layer.route.path}`);
  }
  return out;
}

describe('route protection (e2e)', () => {
  let app: TestApp;
  let served: Set<string>;
  let routes: DiscoveredRoute[];

  beforeAll(async () => {
    app = await createTestApp();
    served = expressRoutes(app);
    routes = discoverRoutes(app, served);
  });
  afterAll(() => app.close());

  it('finds the routes (sanity: discovery sees the foundation controllers)', () => {
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(keys).toEqual(
      expect.arrayContaining([
        'POST /api/v1/auth/login',
        'GET /api/v1/auth/me',
        'GET /api/v1/users',
        'DELETE /api/v1/users/:id',
        'GET /api/v1/audit-events/verify',
        'GET /health/ready',
      ]),
    );
    expect(routes.length).toBeGreaterThan(15);
  });

  it('serves every controller route, and no route that bypasses the controllers (docs aside)', () => {
    const discovered = new Set(routes.map((r) => `${r.method} ${r.path}`));
    for (const key of discovered) expect({ route: key, served: served.has(key) }).toEqual({ route: key, served: true });
    for (const key of served) {
      const [method, path] = key.split(' ');
      if (NON_NEST_ROUTE.test(path)) continue;
      // Nest answers 404 on paths excluded from the prefix with an every-method route of its own.
      if (method === 'ALL' && !discovered.has(key) && UNPREFIXED.some((u) => join(u.path) === path)) continue;
      expect({ route: key, discovered: discovered.has(key) }).toEqual({ route: key, discovered: true });
    }
  });

  it('gives every route exactly one of @Public() or a permission, and only known permissions', () => {
    const problems: string[] = [];
    for (const r of routes) {
      const label = `${r.name} (${r.method} ${r.path})`;
      if (r.isPublic && r.permission !== undefined) problems.push(`${label} is both @Public() and requires ${r.permission}`);
      if (!r.isPublic && r.permission === undefined) problems.push(`${label} has neither @Public() nor @RequirePermission()`);
      if (r.permission !== undefined && r.permission !== ANY_AUTHENTICATED && !ALL_PERMISSIONS.includes(r.permission)) {
        problems.push(`${label} requires an unknown permission ${r.permission}`);
      }
      if (r.isPublic && !ALLOWED_PUBLIC.has(`${r.method} ${r.path}`)) problems.push(`${label} is public but not in ALLOWED_PUBLIC`);
    }
    expect(problems).toEqual([]);
  });

  it('answers 401 to an unauthenticated or badly authenticated call on every non-public route', async () => {
    const guarded = routes.filter((r) => !r.isPublic);
    expect(guarded.length).toBeGreaterThan(10);
    const wrong: string[] = [];
    for (const r of guarded) {
      const path = r.path.replace(/:[A-Za-z_]\w*/g, () => randomUUID());
      const methods = r.method === 'ALL' ? ['get', 'post'] : [r.method.toLowerCase()];
      for (const method of methods as ('get' | 'post' | 'put' | 'patch' | 'delete')[]) {
        for (const auth of [undefined, 'Bearer not-a-token', `Bearer amk_${'A'.repeat(11)}_${'B'.repeat(43)}`]) {
          let req = app.http[method](path);
          if (auth) req = req.set('Authorization', auth);
          const res = await (method === 'get' || method === 'delete' ? req : req.send({}));
          if (res.status !== 401) {
            wrong.push(`${method.toUpperCase()} ${path} with ${auth ?? 'no credential'} → ${res.status}`);
            continue;
          }
          expectError(res, 401, 'unauthenticated');
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
