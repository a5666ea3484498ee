import { Injectable } from '@nestjs/common';
import type { Principal } from '../access/principal';
import { forbidden } from '../common/errors';
import { Sealer } from '../outbox/sealer.service';
import type { EventListDto } from './dto/events.dto';
import { mayView, viewerFor } from './event-access';
import { EventsRepository } from './events.repository';

@Injectable()
export class EventsQueryService {
  constructor(
    private readonly events: EventsRepository,
    private readonly sealer: Sealer,
  ) {}

  /** GET /events?after=: what a reconnecting client missed, filtered exactly as its socket would be. */
  async replay(principal: Principal, after: string, limit: number): Promise<EventListDto> {
    const viewer = viewerFor(principal);
    if (!viewer) throw forbidden('This needs the events:read permission (or agents:act for your own agents)');
    // Read-your-writes: what committed before this request is sealed before it is read.
    await this.sealer.settle();
    const batch = await this.events.after(after, limit, null, viewer.scope === 'own' ? viewer.owner : null);
    // The owner filter ran in SQL; channel permissions are checked here (ownedAgents is not needed for 'all').
    const visible = viewer.scope === 'all' ? batch.filter((e) => mayView(viewer, e, new Set())) : batch;
    return {
      events: visible.map((e) => ({ ...e.payload, seq: Number(e.seq) })),
      next_cursor: batch.length === limit ? batch[batch.length - 1].seq : null,
    };
  }
}
