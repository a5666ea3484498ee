import { Global, Module } from '@nestjs/common';
import { PgListener } from './pg-listener.service';

@Global()
@Module({ providers: [PgListener], exports: [PgListener] })
export class PgListenerModule {}
