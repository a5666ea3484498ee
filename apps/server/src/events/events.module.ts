import { Global, Module } from '@nestjs/common';
import { EventsRepository } from './events.repository';
import { EventsService } from './events.service';

/** The outbox writer, global: every module that changes state emits through EventsService. */
@Global()
@Module({ providers: [EventsService, EventsRepository], exports: [EventsService, EventsRepository] })
export class EventsModule {}
