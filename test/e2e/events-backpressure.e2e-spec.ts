import { io } from 'socket.io-client';
import { EventsGateway } from '../../apps/server/src/events/events.gateway';
import { createTask, eventually, loginAdmin, type Session } from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';

/**
 * A client that stops reading must not grow the server's memory: once more than
 * SOCKET_MAX_BUFFERED_EVENTS events wait for it, the server cuts it. The slow client speaks the
 * engine.io long-polling protocol by hand and never polls after subscribing, so undelivered
 * packets queue in the server's write buffer.
 */
describe('events backpressure (e2e)', () => {
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp({ env: { SOCKET_MAX_BUFFERED_EVENTS: '5' } });
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  async function connectWithoutReading(): Promise<void> {
    const base = `${app.baseUrl}/socket.io/?EIO=4&transport=polling`;
    const open = await (await fetch(base)).text(); // 0{"sid":...}
    const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
    const url = `${base}&sid=${sid}`;
    const post = (body: string) => fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
    await post(`40${JSON.stringify({ token: admin.accessToken })}`); // CONNECT to "/" with auth
    const connected = await (await fetch(url)).text(); // 40{"sid":...}
    if (!connected.startsWith('40')) throw new Error(`socket.io connect failed: ${connected}`);
    await post(`42${JSON.stringify(['subscribe', { channel: 'tasks' }])}`);
    // ... and from here on, never poll again.
  }

  it('disconnects a consumer that stops reading once its buffer passes the cap, and keeps serving others', async () => {
    const gateway = app.server.app.get(EventsGateway);
    const healthy = io(app.baseUrl, { auth: { token: admin.accessToken }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      healthy.once('connect', () => resolve());
      healthy.once('connect_error', reject);
    });
    await healthy.timeout(5000).emitWithAck('subscribe', { channel: 'tasks' });
    const healthySeen: unknown[] = [];
    healthy.on('task_update', (e: unknown) => healthySeen.push(e));

    await connectWithoutReading();
    expect(gateway.connected).toBe(2);
    for (let i = 0; i < 12; i++) await createTask(app, admin.auth, { type: 'flood' });
    await eventually(async () => (gateway.connected === 1 ? true : undefined), 10_000);
    await eventually(async () => (healthySeen.length >= 12 ? true : undefined), 10_000);
    expect(healthy.connected).toBe(true);
    healthy.close();
  });
});
