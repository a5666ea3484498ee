import { Foundation1795334016542 } from './1795334016542-Foundation';
import { AgentsAndTasks1795334679279 } from './1795334679279-AgentsAndTasks';

// Applied in this order. A landed migration is never edited: add a new one.
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
