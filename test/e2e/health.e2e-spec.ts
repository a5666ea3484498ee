import { createTestApp, type TestApp } from '../harness/test-app';

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
  components: { securitySchemes: Record<string, { type: string; scheme?: string }> };
}

describe('health and API docs (e2e)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(() => app.close());

  it('answers /health/live without credentials', async () => {
    const res = await app.http.get('/health/live');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('answers /health/ready with the database and migration state', async () => {
    const res = await app.http.get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', database: 'up', migrations: 'applied' });
  });

  it('serves health outside /api/v1 only', async () => {
    expect((await app.http.get('/api/v1/health/live')).status).toBe(404);
    expect((await app.http.get('/api/v1/health/ready')).status).toBe(404);
  });

  it('serves the OpenAPI UI at /docs', async () => {
    const res = await app.http.get('/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('swagger-ui');
  });

  it('serves an OpenAPI 3 document at /docs-json describing login and bearer auth', async () => {
    const res = await app.http.get('/docs-json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const doc = res.body as OpenApiDocument;
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('AgentManager API');
    expect(doc.paths['/api/v1/auth/login']?.post).toBeDefined();
    expect(doc.paths['/health/ready']?.get).toBeDefined();
    const schemes = Object.values(doc.components.securitySchemes);
    expect(schemes).toContainEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    // Protected operations say so; login does not.
    expect(doc.paths['/api/v1/users'].get.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/v1/auth/login'].post.security).toBeUndefined();
    // The docs live outside the API prefix.
    expect((await app.http.get('/api/v1/docs-json')).status).toBe(404);
  });
});
