import { Global, Module } from '@nestjs/common';
import { ShutdownState } from './shutdown-state';

/** Global: readiness, long-polls and the request pipeline all read the one shutdown state. */
@Global()
@Module({ providers: [ShutdownState], exports: [ShutdownState] })
export class LifecycleModule {}
