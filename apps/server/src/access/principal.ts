/**
 * Who is calling, resolved from a bearer credential on every request (so a disabled user or a
 * changed role takes effect at once).
 */
export interface Principal {
  kind: 'user' | 'api_key';
  /** The user id, the API key id, or `idp:<subject>` for an identity provider's user. */
  id: string;
  /** An identity provider's user: the token's `sub` as the provider wrote it (shown by /auth/me). */
  subject?: string;
  /** The user behind the credential (the key's creator for an API key); null for external IdP users. */
  userId: string | null;
  username: string | null;
  roles: string[];
  permissions: ReadonlySet<string>;
  /** How audit rows name this caller. */
  actor: AuditActor;
}

export interface AuditActor {
  type: 'user' | 'agent' | 'api_key' | 'system';
  id: string | null;
}

/**
 * Prefixes an identity provider's subject wherever it names a principal (owner keys, lock holders,
 * audit actors), so a token whose `sub` equals a local user's id never acts as that user.
 */
export function externalPrincipalId(subject: string): string {
  return `idp:${subject}`;
}

export const SYSTEM_ACTOR: AuditActor = { type: 'system', id: null };

/**
 * The owner key of things a credential creates (agents, locks): an API key owns what it registers,
 * a user owns what they register.
 */
export function ownerOf(principal: Principal): string {
  return `${principal.kind}:${principal.id}`;
}

/** Admins may act on anyone's agents, locks and tasks. */
export function isAdmin(principal: Principal): boolean {
  return principal.permissions.has('*');
}

/** The owner whose agents `principal` may act as, or null for an admin (any agent). */
export function actingOwner(principal: Principal): string | null {
  return isAdmin(principal) ? null : ownerOf(principal);
}
