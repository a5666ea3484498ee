import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { PinoNestLogger } from './common/logger';
import type { AppConfig } from './config/app-config';
import { configureApp, registerNotFoundFallback } from './configure-app';
import { type OpenDatabase,openDatabase } from './database/open-database';

export interface ServerApp {
  app: NestExpressApplication;
  db: OpenDatabase;
  /** Closes the app (ending requests and sockets), then the database. */
  close(): Promise<void>;
}

/** Opens the database and builds the configured app; main.ts and the e2e tests both start here. */
export async function createServerApp(config: AppConfig, logger: Logger): Promise<ServerApp> {
  const db = await openDatabase(config, logger);
  try {
    const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ config, logger, dataSource: db.dataSource }), {
      bodyParser: false,
      logger: new PinoNestLogger(logger.child({ component: 'nest' })),
      abortOnError: false,
    });
    configureApp(app, config, logger);
    // Routes, lifecycle hooks (e.g. the first admin) and then the catch-all 404 behind them.
    // Anything that must precede the routes (middleware, adapters) belongs in configureApp.
    await app.init();
    registerNotFoundFallback(app, logger);
    let closed = false;
    return {
      app,
      db,
      close: async () => {
        if (closed) return;
        closed = true;
        await app.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
