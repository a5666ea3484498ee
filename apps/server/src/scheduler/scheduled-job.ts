import type { Client } from 'pg';
import type { EntityManager } from 'typeorm';
import type { Channel } from '../database/commit-signals';

interface JobBase {
  /** Unique; labels the job's metrics and log lines. */
  name: string;
  /** Pause between the end of one run and the start of the next (for a leader job: its tick). */
  intervalMs: number;
  /** Also run as soon as this channel is signalled (single-flight with the timer's runs). */
  wake?: Channel;
}

/**
 * A sweep: each run is one transaction that first takes `pg_try_advisory_xact_lock(lockKey)` and
 * does nothing when another instance holds it, so one instance does each run.
 */
export interface LockedJob extends JobBase {
  kind: 'locked';
  lockKey: number;
  /** Returns how many rows it handled. */
  run: (manager: EntityManager) => Promise<number>;
}

/**
 * Runs on every instance: the job itself keeps two instances off the same row (e.g. by leasing
 * rows with FOR UPDATE SKIP LOCKED), because it works outside any one transaction.
 */
export interface EveryInstanceJob extends JobBase {
  kind: 'every-instance';
  run: () => Promise<unknown>;
}

/** What a leader job's run holds: its own session, while it still leads. */
export interface Lead {
  readonly client: Client;
  /** False once the lead is lost or the scheduler stops: a long run should end early. */
  isActive(): boolean;
}

/**
 * Runs on the one instance holding a *session* advisory lock on the job's own connection. The
 * leader keeps the lock across runs; every `intervalMs` the others try to take it, so when the
 * leader dies (PostgreSQL drops the lock with its connection) another leads within one tick.
 * A run that throws gives the lead (and the connection) up, so a healthy instance can take over.
 */
export interface LeaderJob extends JobBase {
  kind: 'leader';
  lockKey: number;
  /** The dedicated connection's application_name and statement timeout. */
  applicationName: string;
  statementTimeoutMs?: number;
  run: (lead: Lead) => Promise<void>;
  /** Called when this instance takes the lead (true) or loses it (false), with the session. */
  onLeadChange?: (leading: boolean, client: Client) => void;
}

export type ScheduledJob = LockedJob | EveryInstanceJob | LeaderJob;
