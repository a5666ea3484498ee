import type { Request, Response } from 'express';
import passport from 'passport';
import type { Principal } from '../access/principal';
import { unauthenticated } from '../common/errors';
import { type AuthenticationService, bearerFrom } from './authentication.service';

/**
 * Passport tries these in order until one accepts the bearer credential: API keys (recognised by
 * their `amk_` prefix), our HS256 access tokens (passport-jwt), an identity provider's tokens
 * (passport-jwt with jwks-rsa). Each hands what it verified to AuthenticationService.
 */
export const STRATEGIES = ['api-key', 'jwt', 'oidc'];

const outcomes = new WeakMap<Request, Promise<Principal>>();

/**
 * Authenticates a request's bearer credential once for everyone who asks: the rate limiter (which
 * runs before the guard and counts per principal) and then the guard. A credential resolved in
 * the last few seconds comes from AuthenticationService's cache (no signature check, no query);
 * any other goes through the passport strategies. Undefined without a bearer credential. The
 * promise rejects with the 401 (or, on a database outage, the 503) the guard then throws; the
 * limiter counts a refused request per client address instead.
 */
export function authenticateRequest(req: Request, authentication: AuthenticationService): Promise<Principal> | undefined {
  const known = outcomes.get(req);
  if (known) return known;
  const credential = bearerFrom(req.headers.authorization);
  if (!credential) return undefined;
  const cached = authentication.cached(credential);
  const outcome = cached ? Promise.resolve(cached) : viaPassport(req);
  outcomes.set(req, outcome);
  // Whoever awaits it handles the rejection; an unobserved one is no crash.
  outcome.catch(() => undefined);
  return outcome;
}

/** The outcome of authenticateRequest for this request, if something asked already. */
export function authenticatedEarly(req: Request): Promise<Principal> | undefined {
  return outcomes.get(req);
}

/**
 * The strategies, outside Nest's guard: a refused API key or user is the DomainError (401) the
 * strategy reported; a token no strategy could verify is the same 401 the guard gives; any other
 * error is not the caller's fault (a database outage stays a 503, a bug a 500).
 */
function viaPassport(req: Request): Promise<Principal> {
  return new Promise((resolve, reject) => {
    const done = (err: unknown, user: Principal | false | undefined) => {
      if (err instanceof Error) reject(err);
      else if (err) reject(new Error('authentication failed unexpectedly'));
      else if (!user) reject(unauthenticated('The token is invalid or expired'));
      else resolve(user);
    };
    // Strategies with a callback answer through it only: the response is never touched.
    (passport.authenticate(STRATEGIES, { session: false }, done) as (req: Request, res: Response, next: (err?: unknown) => void) => void)(req, {} as Response, (err) => done(err, undefined));
  });
}
