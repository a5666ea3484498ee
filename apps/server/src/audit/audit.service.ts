import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import type { AuditActor } from '../access/principal';
import { DomainError } from '../common/errors';
import { decodeCursor, encodeCursor } from '../common/pagination';
import { RequestContextStore } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { canonicalRow, chainHash, fieldsOf, GENESIS_HASH, scrubDetails } from '../outbox/audit-chain';
import { journalAudit } from '../outbox/commit-journal';
import { Sealer } from '../outbox/sealer.service';
import { type AuditFilter, AuditRepository, type AuditRow } from './audit.repository';
import type { AuditCheckpointDto, AuditEventDto, AuditEventListDto, AuditFilterDto, AuditVerificationDto, CheckpointVerificationDto, ListAuditQueryDto, VerifyCheckpointDto } from './dto/audit.dto';

export type AuditOutcome = 'success' | 'denied' | 'error';

export interface AuditEntry {
  actor: AuditActor;
  /** `<resource>.<verb>`, e.g. `task.claim`. */
  action: string;
  resourceType: string;
  resourceId?: string | null;
  outcome?: AuditOutcome;
  details?: Record<string, unknown>;
}

/**
 * Appends to the hash-chained audit trail. `record` joins the caller's transaction, so the row
 * commits (or rolls back) with the change it describes; the sealer chains it right after commit.
 * Reads wait for the rows committed before them to be sealed (read-your-writes).
 */
@Injectable()
export class AuditService {
  constructor(
    private readonly audit: AuditRepository,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly sealer: Sealer,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * A signed checkpoint of the chain head (AUDIT_CHECKPOINT_KEY, a key the database never sees):
   * kept outside the database, it lets an auditor detect a rewrite of the chain even by someone
   * who can recompute every hash (the database owner can disable the trigger).
   */
  async checkpoint(): Promise<AuditCheckpointDto> {
    const key = this.checkpointKey();
    await this.sealer.settle();
    const head = await this.audit.head();
    const seq = Number(head.last_seq);
    if (seq === 0) throw new DomainError('not_found', 'The audit trail is empty: there is no head to sign yet');
    const signedAt = new Date().toISOString();
    return { seq, hash: head.last_hash, signed_at: signedAt, algorithm: 'HMAC-SHA256', signature: checkpointSignature(key, seq, head.last_hash, signedAt) };
  }

  /** Whether a checkpoint is this server's and the sealed chain still holds its hash at its seq. */
  async verifyCheckpoint(checkpoint: VerifyCheckpointDto): Promise<CheckpointVerificationDto> {
    const key = this.checkpointKey();
    const expected = checkpointSignature(key, checkpoint.seq, checkpoint.hash, checkpoint.signed_at);
    const signatureValid = timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(checkpoint.signature, 'hex'));
    await this.sealer.settle();
    return { signature_valid: signatureValid, chain_matches: (await this.audit.hashAt(checkpoint.seq)) === checkpoint.hash };
  }

  private checkpointKey(): string {
    const key = this.config.auditCheckpointKey;
    if (!key) throw new DomainError('not_found', 'Signed checkpoints are off: AUDIT_CHECKPOINT_KEY is not set on this server');
    return key;
  }

  /**
   * Adds a row to the caller's transaction. It is staged with the transaction's other
   * commit-time writes, in one statement sent with COMMIT (outbox/commit-journal.ts).
   */
  async record(manager: EntityManager, entry: AuditEntry): Promise<void> {
    await this.recordMany(manager, [entry]);
  }

  /** Several rows (e.g. one per task of a batch claim); same guarantees as record. */
  async recordMany(manager: EntityManager, entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const context = RequestContextStore.current();
    const occurredAt = new Date().toISOString();
    const rows = entries.map((entry) => {
      const details = scrubDetails({
        ...(entry.details ?? {}),
        ...(context && context.via !== 'rest' ? { via: context.via } : {}),
      }) as Record<string, unknown>;
      return {
        id: randomUUID(),
        occurredAt,
        actorType: entry.actor.type,
        actorId: entry.actor.id,
        action: entry.action,
        resourceType: entry.resourceType,
        resourceId: entry.resourceId ?? null,
        outcome: entry.outcome ?? 'success',
        ip: context?.ip ?? null,
        userAgent: context?.userAgent ? context.userAgent.slice(0, 512) : null,
        requestId: context?.requestId ?? null,
        details,
      };
    });
    journalAudit(manager, rows);
  }

  /** For outcomes with no surrounding change to join (denials, failed logins). */
  async recordAlone(entry: AuditEntry): Promise<void> {
    return inTransaction(this.dataSource, (manager) => this.record(manager, entry));
  }

  async list(query: ListAuditQueryDto): Promise<AuditEventListDto> {
    await this.sealer.settle();
    const before = decodeCursor(query.cursor, ['seq']) as [string] | undefined;
    const rows = await this.audit.list(toFilter(query), query.limit + 1, before?.[0]);
    const items = rows.slice(0, query.limit);
    const nextCursor = rows.length > query.limit ? encodeCursor([items[items.length - 1].seq]) : null;
    return { audit_events: items.map(toDto), next_cursor: nextCursor };
  }

  /**
   * Walks the sealed chain from the first row up to the recorded head: seq must be gapless, each
   * prev_hash must be the previous row's hash, each hash must match the row's recomputed
   * contents, and the last row must be the head (so a cut-off tail is caught too).
   */
  async verify(): Promise<AuditVerificationDto> {
    await this.sealer.settle();
    // The head first: rows up to it were committed with it, rows after it are not looked at.
    const head = await this.audit.head();
    const result = (valid: boolean, checked: number, firstInvalid: string | null): AuditVerificationDto => ({
      valid,
      checked,
      first_invalid_seq: firstInvalid === null ? null : Number(firstInvalid),
      unsealed: head.unsealed,
      head_seq: Number(head.last_seq),
    });
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1n;
    let checked = 0;
    for await (const row of this.audit.scan({}, head.last_seq)) {
      checked++;
      const seqOk = BigInt(row.seq) === expectedSeq;
      const linkOk = row.prev_hash === prevHash;
      const hashOk = row.hash === chainHash(row.prev_hash, row.seq, canonicalRow(fieldsOf(row)));
      if (!seqOk || !linkOk || !hashOk) return result(false, checked, row.seq);
      prevHash = row.hash;
      expectedSeq++;
    }
    const lastSeq = expectedSeq - 1n;
    if (lastSeq.toString() !== head.last_seq) return result(false, checked, (lastSeq + 1n).toString());
    if (prevHash !== head.last_hash) return result(false, checked, head.last_seq);
    return result(true, checked, null);
  }

  /** Export as NDJSON or CSV, oldest first, produced lazily so memory stays flat. */
  async *export(filter: AuditFilterDto, format: 'ndjson' | 'csv'): AsyncGenerator<string> {
    await this.sealer.settle();
    if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\n`;
    for await (const row of this.audit.scan(toFilter(filter))) {
      const dto = toDto(row);
      if (format === 'ndjson') {
        yield `${JSON.stringify(dto)}\n`;
      } else {
        const values = [dto.seq, dto.id, dto.occurred_at, dto.actor.type, dto.actor.id, dto.action, dto.resource_type,
          dto.resource_id, dto.outcome, dto.ip, dto.user_agent, dto.request_id, JSON.stringify(dto.details), dto.prev_hash, dto.hash];
        yield `${values.map(csvCell).join(',')}\n`;
      }
    }
  }
}

const CSV_COLUMNS = ['seq', 'id', 'occurred_at', 'actor_type', 'actor_id', 'action', 'resource_type', 'resource_id',
  'outcome', 'ip', 'user_agent', 'request_id', 'details', 'prev_hash', 'hash'];

/** RFC 4180 quoting, and a leading quote on cells a spreadsheet would run as a formula. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function toFilter(q: AuditFilterDto): AuditFilter {
  return {
    actorId: q.actor_id,
    action: q.action,
    resourceType: q.resource_type,
    resourceId: q.resource_id,
    outcome: q.outcome,
    from: q.from,
    to: q.to,
  };
}

function toDto(row: AuditRow): AuditEventDto {
  return {
    seq: Number(row.seq),
    id: row.id,
    occurred_at: row.occurred_at.toISOString(),
    actor: { type: row.actor_type, id: row.actor_id },
    action: row.action,
    resource_type: row.resource_type,
    resource_id: row.resource_id,
    outcome: row.outcome,
    ip: row.ip,
    user_agent: row.user_agent,
    request_id: row.request_id,
    details: row.details,
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}

function checkpointSignature(key: string, seq: number, hash: string, signedAt: string): string {
  return createHmac('sha256', key).update(`agentmanager-audit-checkpoint|${seq}|${hash}|${signedAt}`).digest('hex');
}
