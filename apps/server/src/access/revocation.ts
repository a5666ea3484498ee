import type { EntityManager } from 'typeorm';
import { PgListener } from '../notifications/pg-listener.service';

/**
 * Call inside the transaction of any change to users, roles or keys: once it commits, every
 * instance drops its cached principals (AuthenticationService) and re-reads grants.
 */
export async function revokeCachedPrincipals(manager: EntityManager): Promise<void> {
  await PgListener.notify(manager, 'am_auth');
}
