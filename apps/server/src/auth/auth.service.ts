import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import { newRefreshToken, sha256Hex } from '../access/credentials';
import { PasswordHasher } from '../access/password-hasher';
import { expand } from '../access/permissions';
import type { Principal } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { DomainError, unauthenticated } from '../common/errors';
import { RequestContextStore } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { AuthRepository } from './auth.repository';
import type { MeDto, TokenPairDto } from './dto/login.dto';
import { TokenService } from './token.service';

/** One username may fail this many times LOGIN_MAX_FAILURES, over all addresses, before it is throttled everywhere. */
const USERNAME_FAILURE_MULTIPLIER = 4;
/** One address may fail this many times LOGIN_MAX_FAILURES, over all usernames, before it is throttled too. */
const IP_FAILURE_MULTIPLIER = 4;

@Injectable()
export class AuthService {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly repository: AuthRepository,
    private readonly hasher: PasswordHasher,
    private readonly tokens: TokenService,
    private readonly audit: AuditService,
  ) {}

  async login(usernameInput: string, password: string): Promise<TokenPairDto> {
    const username = usernameInput.trim().toLowerCase();
    const ip = RequestContextStore.current()?.ip ?? 'unknown';
    // The lockout is per (username, address): one address guessing cannot lock the user out for
    // everyone else. The per-username cap still stops a guess spread over many addresses, and the
    // per-address one an address trying many usernames.
    const max = this.config.loginMaxFailures;
    const limits = [
      { key: `user-ip:${username}|${ip}`, max },
      { key: `user:${username}`, max: max * USERNAME_FAILURE_MULTIPLIER },
      { key: `ip:${ip}`, max: max * IP_FAILURE_MULTIPLIER },
    ];
    const retryAfter = await this.countAttempt(limits);
    if (retryAfter !== null) {
      await this.audit.recordAlone({
        actor: { type: 'user', id: null },
        action: 'auth.login',
        resourceType: 'user',
        resourceId: username,
        outcome: 'denied',
        details: { username, reason: 'throttled' },
      });
      throw new DomainError('login_throttled', 'Too many failed logins; try again later', {}, retryAfter);
    }

    const user = await this.repository.findCredentials(username);
    const ok = user ? await this.hasher.verify(user.password_hash, password) : await this.hasher.verifyAgainstDummy(password);
    if (!user || !ok || user.disabled) {
      // Already counted, before the password was verified.
      await this.audit.recordAlone({
        actor: { type: 'user', id: user?.id ?? null },
        action: 'auth.login',
        resourceType: 'user',
        resourceId: user?.id ?? username,
        outcome: 'denied',
        details: { username, reason: user?.disabled && ok ? 'disabled' : 'bad_credentials' },
      });
      throw unauthenticated('Wrong username or password');
    }
    await this.repository.refundLoginAttempt(
      limits[0].key,
      limits.slice(1).map((l) => l.key),
    );
    return inTransaction(this.dataSource, async (manager) => {
      const familyId = randomUUID();
      const refresh = newRefreshToken();
      await this.repository.insertRefreshToken(manager, {
        userId: user.id,
        familyId,
        hash: refresh.hash,
        ttlSec: this.config.refreshTokenTtlSec,
      });
      await this.audit.record(manager, {
        actor: { type: 'user', id: user.id },
        action: 'auth.login',
        resourceType: 'user',
        resourceId: user.id,
        details: { username: user.username },
      });
      return this.pair(await this.tokens.signAccessToken(user), refresh.token);
    });
  }

  /**
   * Rotates a refresh token. A spent (or revoked) token presented again means it was copied:
   * the whole family is revoked, which logs out the thief and the owner alike.
   */
  async refresh(token: string): Promise<TokenPairDto> {
    const outcome = await inTransaction(this.dataSource, async (manager) => {
      const row = await this.repository.lockRefreshToken(manager, sha256Hex(token));
      if (!row) return { error: 'The refresh token is invalid' } as const;
      if (row.revoked_at) {
        await this.audit.record(manager, {
          actor: { type: 'user', id: row.user_id },
          action: 'auth.refresh',
          resourceType: 'refresh_token_family',
          resourceId: row.family_id,
          outcome: 'denied',
          details: { reason: 'revoked' },
        });
        return { error: 'The refresh token has been revoked' } as const;
      }
      if (row.spent_at) {
        const revoked = await this.repository.revokeFamily(manager, row.family_id);
        await this.audit.record(manager, {
          actor: { type: 'user', id: row.user_id },
          action: 'auth.refresh_reuse',
          resourceType: 'refresh_token_family',
          resourceId: row.family_id,
          outcome: 'denied',
          details: { revoked_tokens: revoked },
        });
        return { error: 'The refresh token was already used; its session has been revoked' } as const;
      }
      if (row.expired) return { error: 'The refresh token has expired' } as const;
      const user = await this.repository.findUserGrants(row.user_id);
      if (!user || user.disabled) return { error: 'The refresh token is invalid' } as const;
      await this.repository.markSpent(manager, row.id);
      const next = newRefreshToken();
      await this.repository.insertRefreshToken(manager, {
        userId: user.id,
        familyId: row.family_id,
        hash: next.hash,
        ttlSec: this.config.refreshTokenTtlSec,
      });
      await this.audit.record(manager, {
        actor: { type: 'user', id: user.id },
        action: 'auth.refresh',
        resourceType: 'user',
        resourceId: user.id,
      });
      return { pair: this.pair(await this.tokens.signAccessToken(user), next.token) } as const;
    });
    if ('error' in outcome) throw unauthenticated(outcome.error);
    return outcome.pair;
  }

  /** Ends the session the refresh token belongs to. Unknown tokens are ignored (204 either way). */
  async logout(principal: Principal, token: string): Promise<void> {
    await inTransaction(this.dataSource, async (manager) => {
      const row = await this.repository.lockRefreshToken(manager, sha256Hex(token));
      if (!row || row.user_id !== principal.userId) return;
      await this.repository.revokeFamily(manager, row.family_id);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'auth.logout',
        resourceType: 'user',
        resourceId: row.user_id,
      });
    });
  }

  async me(principal: Principal): Promise<MeDto> {
    const email = principal.kind === 'user' && principal.userId
      ? ((await this.repository.findUserGrants(principal.userId))?.email ?? null)
      : null;
    return {
      id: principal.subject ?? principal.id,
      username: principal.username,
      email,
      roles: [...principal.roles].sort(),
      permissions: [...expand(principal.permissions)].sort(),
      kind: principal.kind,
    };
  }

  /**
   * Counts this attempt against every limit before the password is verified, unless one is already
   * reached: then nothing is counted (a locked-out address cannot push the shared limits further)
   * and the seconds until the longest window ends come back. Atomic per key, so N parallel
   * attempts get at most the limit of verifications.
   */
  private countAttempt(limits: { key: string; max: number }[]): Promise<number | null> {
    const windowSec = this.config.loginWindowSec;
    return inTransaction(this.dataSource, async (manager) => {
      const counters = await this.repository.lockLoginCounters(manager, limits, windowSec);
      const reached = counters.filter((c) => c.failures >= c.max);
      if (reached.length) return Math.max(1, ...reached.map((c) => c.retry_after));
      await this.repository.countLoginAttempt(manager, limits.map((l) => l.key), windowSec);
      return null;
    });
  }

  private pair(accessToken: string, refreshToken: string): TokenPairDto {
    return {
      access_token: accessToken,
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: this.config.accessTokenTtlSec,
    };
  }
}
