import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { AuditModule } from '../audit/audit.module';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthRepository } from './auth.repository';
import { AuthService } from './auth.service';
import { AuthenticationService } from './authentication.service';
import { BearerStrategy } from './bearer.strategy';
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
    BearerStrategy,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [AuthenticationService, AuthRepository, PasswordHasher, TokenService, AuditModule],
})
export class AuthModule {}
