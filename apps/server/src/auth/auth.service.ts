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

/** An IP may fail this many times more often than one username before it is throttled too. */
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
    const limits = [
      { key: `user:${username}`, max: this.config.loginMaxFailures },
      { key: `ip:${ip}`, max: this.config.loginMaxFailures * IP_FAILURE_MULTIPLIER },
    ];
    const retryAfter = await this.repository.throttledFor(limits, this.config.loginWindowSec);
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
      await this.repository.recordLoginFailure(
        limits.map((l) => l.key),
        this.config.loginWindowSec,
      );
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
    await this.repository.clearLoginFailures(limits[0].key);
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

  private pair(accessToken: string, refreshToken: string): TokenPairDto {
    return {
      access_token: accessToken,
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: this.config.accessTokenTtlSec,
    };
  }
}
