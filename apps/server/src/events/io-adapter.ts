import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { IncomingMessage } from 'node:http';
import type { Server, ServerOptions } from 'socket.io';
import type { AppConfig } from '../config/app-config';

/**
 * Socket.IO with the server's CORS policy: a browser Origin must be the server's own or one of
 * CORS_ORIGINS, else the handshake is refused (connect_error). Clients without an Origin (workers,
 * CLIs) are not browsers and pass to authentication.
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
    return super.createIOServer(port, {
      ...options,
      serveClient: false,
      maxHttpBufferSize: 64 * 1024,
      cors: { origin: this.config.corsOrigins.length ? this.config.corsOrigins : false },
      allowRequest: (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void) => {
        const origin = req.headers.origin;
        if (!origin || allowed.has(origin)) return callback(null, true);
        const sameOrigin = URL.canParse(origin) && new URL(origin).host === req.headers.host;
        callback(sameOrigin ? null : 'origin not allowed', sameOrigin);
      },
    } as ServerOptions);
  }
}
