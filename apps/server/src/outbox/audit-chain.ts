import { createHash } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json';

export const GENESIS_HASH = '0'.repeat(64);

/** The fields a row's hash covers, in a fixed order. */
export interface ChainedFields {
  id: string;
  occurredAt: string;
  actorType: string;
  actorId: string | null;
  action: string;
  resourceType: string;
  resourceId: string | null;
  outcome: string;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: unknown;
}

export function canonicalRow(f: ChainedFields): string {
  return canonicalJson([
    f.id,
    f.occurredAt,
    f.actorType,
    f.actorId,
    f.action,
    f.resourceType,
    f.resourceId,
    f.outcome,
    f.ip,
    f.userAgent,
    f.requestId,
    f.details,
  ]);
}

/** The columns a row's hash covers, as read back from audit_events or audit_pending. */
export interface ChainedColumns {
  id: string;
  occurred_at: Date;
  actor_type: string;
  actor_id: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: string;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: unknown;
}

/** The hashed fields of a stored row: the sealer and verify both hash exactly this. */
export function fieldsOf(row: ChainedColumns): ChainedFields {
  return {
    id: row.id,
    occurredAt: row.occurred_at.toISOString(),
    actorType: row.actor_type,
    actorId: row.actor_id,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    outcome: row.outcome,
    ip: row.ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
    details: row.details,
  };
}

/** hash = sha256(prev_hash | seq | canonical(row)). */
export function chainHash(prevHash: string, seq: string, canonical: string): string {
  return createHash('sha256').update(`${prevHash}|${seq}|${canonical}`, 'utf8').digest('hex');
}

const SECRET_KEY = /(pass(word)?|secret|token|authorization|cookie|api_?key|key_hash|password_hash|credential)/i;

/**
 * Drops any field whose name says it carries a secret, at every depth, and NUL characters that
 * jsonb cannot store. Callers should not pass secrets at all; this is the safety net.
 */
export function scrubDetails(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[truncated]';
  if (typeof value === 'string') return value.replaceAll(String.fromCharCode(0), '');
  if (Array.isArray(value)) return value.slice(0, 1000).map((v) => scrubDetails(v, depth + 1));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_KEY.test(k)) continue;
      out[k] = scrubDetails(v, depth + 1);
    }
    return out;
  }
  if (value instanceof Date) return value.toISOString();
  return value;
}
