/**
 * Advisory-lock keys of the scheduled jobs, in one table so no two jobs share one. Sweeps take
 * theirs per run (transaction-scoped); the sealer holds its own on its session while it leads.
 */
export const JOB_LOCKS = {
  offlineAgents: 7_316_101,
  lapsedLeases: 7_316_102,
  dueRetries: 7_316_103,
  runnablePending: 7_316_104,
  expiredLocks: 7_316_105,
  eventsRetention: 7_316_106,
  rateLimitPrune: 7_316_120,
  // 7_316_130 is taken by metrics/metrics.repository.ts (the /metrics gauge snapshot), which sits below the scheduler.
  sealer: 7_316_201,
} as const;
