import { Global, Module } from '@nestjs/common';
import { PgListener } from './pg-listener.service';
import { ShutdownSignal } from './shutdown-signal';

@Global()
@Module({ providers: [PgListener, ShutdownSignal], exports: [PgListener, ShutdownSignal] })
export class NotificationsModule {}
