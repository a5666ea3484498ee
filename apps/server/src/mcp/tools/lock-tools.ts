import { z } from 'zod';
import { Permission } from '../../access/permissions';
import { AcquireLockDto, ListLocksQueryDto, RenewLockDto } from '../../file-locks/dto/file-lock.dto';
import type { FileLocksService } from '../../file-locks/file-locks.service';
import { pageArgs } from './agent-tools';
import { asDto, type McpTool,pathId, splitArgs, uuid } from './tool';

const path = z.string().describe('Relative to the shared workspace; a trailing / locks a directory and everything under it');

export function lockTools(locks: FileLocksService): McpTool[] {
  return [
    {
      name: 'acquire_file_lock',
      title: 'Acquire a file lock',
      description:
        'Locks a path in the shared workspace before you change it. access: read (shared), write (one writer, readers allowed) ' +
        'or exclusive (nobody else). Returns the lock with its id, expires_at and fencing_token (pass the token to storage that ' +
        'checks it). On lock_conflict, details.conflicts lists who holds the path and until when: wait (wait_seconds up to 30), ' +
        'work on something else, or retry later. Do not write without the lock. Pass task_id to have it released when the task ' +
        'ends; otherwise release it with release_file_lock and renew long holds with renew_file_lock before expires_at.',
      permission: Permission.LocksWrite,
      input: z.strictObject({
        path,
        access: z.enum(['read', 'write', 'exclusive']),
        agent_id: z.guid().optional().describe('Hold the lock as this agent (API keys must name one)'),
        ttl_seconds: z.number().int().min(1).max(31_536_000).optional().describe('Default LOCK_DEFAULT_TTL_SEC'),
        task_id: z.guid().optional().describe('Tie the lock to your unfinished task'),
        wait_seconds: z.number().int().min(0).max(30).optional().describe('Wait this long for conflicting locks to go away'),
      }),
      annotations: { title: 'Acquire a file lock', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      run: async ({ principal, signal }, args) => ({ ...(await locks.acquire(principal, await asDto(AcquireLockDto, args), signal)) }),
    },
    {
      name: 'renew_file_lock',
      title: 'Renew a file lock',
      description:
        'Extends a lock you hold to ttl_seconds from now (default: its own TTL again). Call it before expires_at when you need ' +
        'the lock longer; an expired lock cannot be renewed (not_found): acquire it again.',
      permission: Permission.LocksWrite,
      input: z.strictObject({ lock_id: uuid('The lock id'), ttl_seconds: z.number().int().min(1).max(31_536_000).optional() }),
      annotations: { title: 'Renew a file lock', readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async ({ principal }, args) => {
        const [id, body] = splitArgs(args, 'lock_id');
        return { ...(await locks.renew(principal, pathId(id, 'lock_id'), await asDto(RenewLockDto, body))) };
      },
    },
    {
      name: 'release_file_lock',
      title: 'Release a file lock',
      description:
        'Releases a lock you hold as soon as you are done with the path, so others can take it. A caller with locks:force may ' +
        'force-release somebody else\'s lock (audited). not_found means it already expired or was released.',
      permission: Permission.LocksWrite,
      input: z.strictObject({ lock_id: uuid('The lock id') }),
      annotations: { title: 'Release a file lock', readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
      run: async ({ principal }, args) => {
        const id = pathId(args.lock_id, 'lock_id');
        await locks.release(principal, id);
        return { released: true, lock_id: id };
      },
    },
    {
      name: 'list_file_locks',
      title: 'List file locks',
      description: 'Lists live locks, optionally those overlapping a path, held by an agent, or tied to a task. Read-only.',
      permission: Permission.LocksRead,
      input: z.strictObject({ ...pageArgs, path: path.optional(), agent_id: z.guid().optional(), task_id: z.guid().optional() }),
      annotations: { title: 'List file locks', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async (_context, args) => ({ ...(await locks.list(await asDto(ListLocksQueryDto, args, 'query'))) }),
    },
  ];
}
