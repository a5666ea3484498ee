import { Global, Module } from '@nestjs/common';
import { Sealer } from './sealer.service';

/** The sealer, global: the audit and event readers wait on it for read-your-writes. */
@Global()
@Module({ providers: [Sealer], exports: [Sealer] })
export class OutboxModule {}
