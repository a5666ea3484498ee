import { Global, Module } from '@nestjs/common';
import { PgListener } from './pg-listener.service';
import { ShutdownSignal } from './shutdown-signal';
import { SweepRegistry } from './sweep-registry';

@Global()
@Module({ providers: [PgListener, ShutdownSignal, SweepRegistry], exports: [PgListener, ShutdownSignal, SweepRegistry] })
export class NotificationsModule {}
