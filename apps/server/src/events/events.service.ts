import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { UnsequencedEvent } from '@agentmanager/contracts';
import { journalEvent } from '../outbox/commit-journal';

/**
 * Emits events through the outbox. Events join the transaction of the change they describe and
 * are staged with its other commit-time writes (outbox/commit-journal.ts); the sealer numbers
 * them after commit and wakes every instance's relay. Nothing is emitted for a change that rolls
 * back.
 */
@Injectable()
export class EventsService {
  emit(manager: EntityManager, event: UnsequencedEvent, scope: { agentId?: string | null; agentOwner?: string | null } = {}): void {
    journalEvent(manager, { event, agentId: scope.agentId ?? null, agentOwner: scope.agentOwner ?? null });
  }
}
