import { resolve } from 'node:path';
import { BUILTIN_HANDLERS } from './builtin';
import { LLM_HANDLERS } from './llm';
import type { HandlerModule, TaskHandler } from './types';

export { type HandlerContext, HandlerError, type HandlerModule, NonRetryableError, type TaskHandler } from './types';

/**
 * The built-in handlers (echo, sleep, http, shell, llm, plan, audit), overridden/extended by a
 * plug-in module's `handlers` export when one is configured. A CommonJS module (or compiled
 * TypeScript) path, resolved from the current directory.
 */
export function loadHandlers(modulePath?: string): Record<string, TaskHandler> {
  const handlers: Record<string, TaskHandler> = { ...BUILTIN_HANDLERS, ...LLM_HANDLERS };
  if (!modulePath) return handlers;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(resolve(modulePath)) as Partial<HandlerModule> & { default?: Partial<HandlerModule> };
  const plugin = mod.handlers ?? mod.default?.handlers;
  if (!plugin || typeof plugin !== 'object') throw new Error(`${modulePath} does not export "handlers" (Record<task type, (task, ctx) => Promise<result>>)`);
  for (const [type, fn] of Object.entries(plugin)) {
    if (typeof fn !== 'function') throw new Error(`${modulePath}: handlers.${type} is not a function`);
    handlers[type] = fn;
  }
  return handlers;
}
