import type { Response } from 'express';

/**
 * An AbortSignal that fires when the client goes away before its response is sent, so a long
 * poll (wait_seconds) stops working for nobody. Watches the response: since Node 16 the
 * request's own 'close' fires as soon as its body has been read, not on disconnect.
 */
export function abortOnDisconnect(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
