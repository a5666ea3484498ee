import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { IncomingMessage } from 'node:http';
import type { Socket as TcpSocket } from 'node:net';
import type { Server, ServerOptions, Socket } from 'socket.io';
import type { AppConfig } from '../config/app-config';

/**
 * Socket.IO with the server's CORS policy: a browser Origin must be the server's own or one of
 * CORS_ORIGINS, else the handshake is refused (connect_error). Clients without an Origin (workers,
 * CLIs) are not browsers and pass to authentication. Writes to websockets are coalesced
 * (coalesceWrites).
 */
export class AppIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const allowed = new Set(this.config.corsOrigins);
    const server = super.createIOServer(port, {
      ...options,
      serveClient: false,
      maxHttpBufferSize: 64 * 1024,
      // Compression would cost a deflate per socket and rule out the shared frame and coalesceWrites.
      perMessageDeflate: false,
      cors: { origin: this.config.corsOrigins.length ? this.config.corsOrigins : false },
      allowRequest: (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => {
        const origin = req.headers.origin;
        if (!origin || allowed.has(origin)) return callback(null, true);
        const sameOrigin = URL.canParse(origin) && new URL(origin).host === req.headers.host;
        callback(sameOrigin ? null : 'origin not allowed', sameOrigin);
      },
    } as ServerOptions);
    server.engine.on('connection', (conn: Socket['conn']) => {
      coalesceWrites(conn);
      conn.on('upgrade', () => coalesceWrites(conn));
    });
    return server;
  }
}

/**
 * A broadcast writes each packet into every socket's engine.io queue; whatever queued while the
 * previous write was in flight is handed to the websocket transport together, which still makes
 * one syscall per packet. Corking the TCP socket around that hand-over makes it one write: a relay
 * batch reaches a socket in at most two writes, whatever its size. Measured on 500 sockets: server
 * CPU per event -20 % in bursts of 3 events, -50 % in bursts of 6, unchanged for single events.
 */
function coalesceWrites(conn: Socket['conn']): void {
  const transport = conn.transport;
  // The ws WebSocket and its TCP socket are private to engine.io and ws; without them, no change.
  const tcp = (transport as unknown as { socket?: { _socket?: TcpSocket | null } }).socket?._socket;
  if (transport.name !== 'websocket' || !tcp) return;
  const send = transport.send.bind(transport);
  transport.send = (packets) => {
    tcp.cork();
    try {
      send(packets);
    } finally {
      tcp.uncork();
    }
  };
}
