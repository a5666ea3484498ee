import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { AuditModule } from '../audit/audit.module';
import { USER_SESSIONS } from '../users/user-sessions';
import { ApiKeyStrategy } from './api-key.strategy';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthRepository } from './auth.repository';
import { AuthService } from './auth.service';
import { AuthenticationService } from './authentication.service';
import { IdentityProviderStrategy, JwtStrategy } from './jwt.strategy';
import { TokenService } from './token.service';

/** Authentication: login, tokens, the passport strategies and the global guard. Global: the users module ends sessions through USER_SESSIONS. */
@Global()
@Module({
  imports: [PassportModule, AuditModule],
  controllers: [AuthController],
  providers: [
    AuthService,
    AuthenticationService,
    AuthRepository,
    TokenService,
    // Users end a user's sessions through this port, without importing auth.
    { provide: USER_SESSIONS, useExisting: AuthRepository },
    ApiKeyStrategy,
    JwtStrategy,
    IdentityProviderStrategy,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [AuthenticationService, AuthRepository, TokenService, AuditModule, USER_SESSIONS],
})
export class AuthModule {}
