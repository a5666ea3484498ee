import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { AuditModule } from '../audit/audit.module';
import { ApiKeyStrategy } from './api-key.strategy';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthRepository } from './auth.repository';
import { AuthService } from './auth.service';
import { AuthenticationService } from './authentication.service';
import { IdentityProviderStrategy, JwtStrategy } from './jwt.strategy';
import { PasswordHasher } from './password-hasher';
import { TokenService } from './token.service';

@Module({
  imports: [PassportModule, AuditModule],
  controllers: [AuthController],
  providers: [
    AuthService,
    AuthenticationService,
    AuthRepository,
    TokenService,
    PasswordHasher,
    ApiKeyStrategy,
    JwtStrategy,
    IdentityProviderStrategy,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [AuthenticationService, AuthRepository, PasswordHasher, TokenService, AuditModule],
})
export class AuthModule {}
