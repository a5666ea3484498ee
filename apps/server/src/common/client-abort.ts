import type { Request } from 'express';

/**
 * An AbortSignal that fires when the client goes away before the response is sent. (The
 * response's 'close' fires on both completion and disconnect; writableEnded tells them apart.)
 */
export function abortOnClose(req: Request): AbortSignal {
  const controller = new AbortController();
  const res = req.res;
  res?.on('close', () => {
    if (!res.writableEnded) controller.abort();
  });
  return controller.signal;
}
