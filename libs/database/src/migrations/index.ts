import { Foundation1795334016542 } from './1795334016542-Foundation';
import { AgentsAndTasks1795334679279 } from './1795334679279-AgentsAndTasks';
import { FileLocks1795335171109 } from './1795335171109-FileLocks';
import { Events1795336816563 } from './1795336816563-Events';
import { Workflows1795337539644 } from './1795337539644-Workflows';
import { RateLimits1795338000000 } from './1795338000000-RateLimits';
import { Pipelines1795338100000 } from './1795338100000-Pipelines';
import { SealAfterCommit1795339100000 } from './1795339100000-SealAfterCommit';
import { TaskWritePath1795339200000 } from './1795339200000-TaskWritePath';
import { StageJournalFunction1795339300000 } from './1795339300000-StageJournalFunction';
import { MetricsSnapshot1795339400000 } from './1795339400000-MetricsSnapshot';

// Applied in this order. A landed migration is never edited: add a new one.
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const migrations: Function[] = [Foundation1795334016542, AgentsAndTasks1795334679279, FileLocks1795335171109, Events1795336816563, Workflows1795337539644, RateLimits1795338000000, Pipelines1795338100000, SealAfterCommit1795339100000, TaskWritePath1795339200000, StageJournalFunction1795339300000, MetricsSnapshot1795339400000];
