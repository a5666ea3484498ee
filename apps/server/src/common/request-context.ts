import { AsyncLocalStorage } from 'node:async_hooks';

/** Facts about the current request that the audit trail and logs need, without passing `Request` around. */
export interface RequestContext {
  requestId: string;
  ip: string | null;
  userAgent: string | null;
  /** 'rest' | 'mcp' | 'socket' | 'system' */
  via: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export const RequestContextStore = {
  run<T>(context: RequestContext, fn: () => T): T {
    return storage.run(context, fn);
  },
  current(): RequestContext | undefined {
    return storage.getStore();
  },
};
