import { checkTaskHistory, historyIsClean, type TaskOp } from '../harness/history';

// The task-history checker is pure; these hand-made histories show that each violation it looks
// for is found, so the concurrency test's "no violations" can fail.

const claim = (loop: string, invoke: number, complete: number, tasks: [string, number][]): TaskOp => ({
  kind: 'claim',
  ok: true,
  loop,
  invoke,
  complete,
  tasks: tasks.map(([id, attempt]) => ({ id, attempt })),
});
const report = (
  kind: 'progress' | 'complete',
  loop: string,
  invoke: number,
  complete: number,
  task: string,
  attempt: number,
  outcome: 'accepted' | 'rejected' | 'error',
): TaskOp => ({ kind, loop, invoke, complete, task, attempt, outcome, status: outcome === 'accepted' ? 200 : outcome === 'rejected' ? 409 : 500 });

describe('checkTaskHistory', () => {
  it('passes a clean history: a lapsed claim rejected with 409, the task completed once by the next holder', () => {
    const ops = [
      claim('L1', 0, 5, [['a', 1], ['b', 1]]),
      report('complete', 'L1', 6, 8, 'a', 1, 'accepted'),
      report('progress', 'L1', 9, 10, 'b', 1, 'accepted'),
      // L1 sleeps past the lease; L2 gets attempt 2 of b and completes it; L1's late report is refused.
      claim('L2', 3000, 3005, [['b', 2]]),
      report('complete', 'L2', 3010, 3012, 'b', 2, 'accepted'),
      report('complete', 'L1', 3100, 3102, 'b', 1, 'rejected'),
    ];
    const result = checkTaskHistory(ops, [
      { id: 'a', status: 'completed', attempt: 1 },
      { id: 'b', status: 'completed', attempt: 2 },
    ]);
    expect(result).toEqual({
      lost: [],
      duplicateAcceptedCompletions: [],
      staleAccepted: [],
      duplicateClaims: [],
      concurrentHolds: [],
      unclaimedAccepted: [],
    });
    expect(historyIsClean(result)).toBe(true);
  });

  it('finds a task never completed, and one whose only completion was ambiguous', () => {
    const ops = [claim('L1', 0, 1, [['a', 1], ['b', 1]]), report('complete', 'L1', 2, 3, 'b', 1, 'error')];
    const result = checkTaskHistory(ops, [
      { id: 'a', status: 'ready', attempt: 1 },
      { id: 'b', status: 'completed', attempt: 1 },
    ]);
    expect(result.lost).toEqual(['a', 'b']);
    expect(historyIsClean(result)).toBe(false);
  });

  it('finds a duplicate accepted completion and a stale attempt accepted', () => {
    const ops = [
      claim('L1', 0, 1, [['a', 1]]),
      claim('L2', 10, 11, [['a', 2]]),
      report('complete', 'L2', 12, 13, 'a', 2, 'accepted'),
      report('complete', 'L1', 14, 15, 'a', 1, 'accepted'),
    ];
    const result = checkTaskHistory(ops, [{ id: 'a', status: 'completed', attempt: 2 }]);
    expect(result.duplicateAcceptedCompletions).toEqual(['a']);
    expect(result.staleAccepted).toEqual([{ task: 'a', attempt: 1, finalAttempt: 2, loop: 'L1' }]);
    // L1 held a from 1 until at least 14, L2 from 11 until at least 12: both accepted, overlapping.
    expect(result.concurrentHolds).toHaveLength(1);
    expect(result.concurrentHolds[0].map((h) => h.value.loop).sort()).toEqual(['L1', 'L2']);
  });

  it('finds one attempt handed to two loops, and a completion of a task nobody claimed', () => {
    const ops = [
      claim('L1', 0, 1, [['a', 1]]),
      claim('L2', 0, 2, [['a', 1]]),
      report('complete', 'L1', 3, 4, 'a', 1, 'accepted'),
      report('complete', 'L3', 5, 6, 'z', 1, 'accepted'),
    ];
    const result = checkTaskHistory(ops, [
      { id: 'a', status: 'completed', attempt: 1 },
      { id: 'z', status: 'completed', attempt: 1 },
    ]);
    expect(result.duplicateClaims).toEqual([{ task: 'a', attempt: 1, loops: ['L1', 'L2'] }]);
    expect(result.unclaimedAccepted).toEqual(['z']);
  });

  it('does not call holds concurrent when the client windows only might overlap', () => {
    // L1's last accepted report was sent (t=10) before L2's claim was answered (t=12): the server
    // may well have ordered them correctly, so this is not a violation.
    const ops = [
      claim('L1', 0, 1, [['a', 1]]),
      report('progress', 'L1', 10, 20, 'a', 1, 'accepted'),
      claim('L2', 5, 12, [['a', 2]]),
      report('complete', 'L2', 21, 22, 'a', 2, 'accepted'),
      report('complete', 'L1', 23, 24, 'a', 1, 'rejected'),
    ];
    const result = checkTaskHistory(ops, [{ id: 'a', status: 'completed', attempt: 2 }]);
    expect(result.concurrentHolds).toEqual([]);
    expect(historyIsClean(result)).toBe(true);
  });
});
