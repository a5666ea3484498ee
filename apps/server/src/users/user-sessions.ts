import type { EntityManager } from 'typeorm';

/** Ends a user's sessions (refresh tokens) in the caller's transaction; auth/ provides it. */
export interface UserSessions {
  revokeAllForUser(manager: EntityManager, userId: string): Promise<void>;
}

export const USER_SESSIONS = Symbol('USER_SESSIONS');
