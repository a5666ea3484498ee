import { Foundation1795334016542 } from './1795334016542-Foundation';
import { AgentsAndTasks1795334679279 } from './1795334679279-AgentsAndTasks';
import { FileLocks1795335171109 } from './1795335171109-FileLocks';
import { Events1795336816563 } from './1795336816563-Events';

// Applied in this order. A landed migration is never edited: add a new one.
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const migrations: Function[] = [Foundation1795334016542, AgentsAndTasks1795334679279, FileLocks1795335171109, Events1795336816563];
