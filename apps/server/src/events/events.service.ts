import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { COMMIT_ORDER, isInTransaction, onBeforeCommit } from '../../../../libs/database/src';
import type { UnsequencedEvent } from '../../../../libs/contracts/src';
import { PgListener } from '../notifications/pg-listener.service';
import { EventsRepository, type OutboxEntry } from './events.repository';

const pending = new WeakMap<EntityManager, OutboxEntry[]>();

/**
 * Emits events through the outbox. Events are collected per transaction and written as its very
 * last statement (so the sequence lock is held only until commit), followed by a NOTIFY that
 * wakes every instance's relay once the transaction commits. Nothing is emitted for a change
 * that rolls back.
 */
@Injectable()
export class EventsService {
  constructor(private readonly events: EventsRepository) {}

  emit(manager: EntityManager, event: UnsequencedEvent, scope: { agentId?: string | null; agentOwner?: string | null } = {}): void {
    if (!isInTransaction(manager)) throw new Error('events must be emitted inside inTransaction()');
    let list = pending.get(manager);
    if (!list) {
      pending.set(manager, (list = []));
      onBeforeCommit(manager, async (m) => {
        const entries = pending.get(m) ?? [];
        pending.delete(m);
        if (!entries.length) return;
        const last = await this.events.append(m, entries);
        await PgListener.notify(m, 'am_events', last);
      }, COMMIT_ORDER.events);
    }
    list.push({ event, agentId: scope.agentId ?? null, agentOwner: scope.agentOwner ?? null });
  }
}
