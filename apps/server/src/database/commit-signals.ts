import type { DataSource } from 'typeorm';

/** The NOTIFY channels instances use to wake each other. */
export type Channel = 'am_tasks_ready' | 'am_locks_released' | 'am_events' | 'am_pending' | 'am_auth';

/** Where a data source's committed transactions report what they signal (set by PgListener). */
export type CommitSignalSink = (channels: ReadonlySet<Channel>) => void;
const sinks = new WeakMap<DataSource, CommitSignalSink>();

export function setCommitSignalSink(dataSource: DataSource, sink: CommitSignalSink): void {
  sinks.set(dataSource, sink);
}

/** Called once a transaction on `dataSource` has committed (outbox/commit-journal.ts). */
export function signalCommitted(dataSource: DataSource, channels: ReadonlySet<Channel>): void {
  sinks.get(dataSource)?.(channels);
}
