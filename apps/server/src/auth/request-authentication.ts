import type { Request } from 'express';
import type { Principal } from '../access/principal';
import { type AuthenticationService, bearerFrom } from './authentication.service';

const outcomes = new WeakMap<Request, Promise<Principal>>();

/**
 * Authenticates a request's bearer credential once for everyone who asks: the rate limiter (which
 * runs before the guard and counts per principal) and then the guard. Undefined without a bearer
 * credential. The promise rejects as AuthenticationService.authenticate does (401, or a database
 * outage); the guard rethrows that, the limiter counts the request per client address instead.
 */
export function authenticateRequest(req: Request, authentication: AuthenticationService): Promise<Principal> | undefined {
  const known = outcomes.get(req);
  if (known) return known;
  const credential = bearerFrom(req.headers.authorization);
  if (!credential) return undefined;
  const outcome = authentication.authenticate(credential);
  outcomes.set(req, outcome);
  // Whoever awaits it handles the rejection; an unobserved one is no crash.
  outcome.catch(() => undefined);
  return outcome;
}

/** The outcome of authenticateRequest for this request, if something asked already. */
export function authenticatedEarly(req: Request): Promise<Principal> | undefined {
  return outcomes.get(req);
}
