import { Global, Module } from '@nestjs/common';
import { PasswordHasher } from './password-hasher';

/**
 * Who may do what, below every feature module: permissions, the principal, the route decorators,
 * credential formats and password hashing. Authentication (auth/) builds on it; users, roles and
 * API keys use it without depending on auth.
 */
@Global()
@Module({ providers: [PasswordHasher], exports: [PasswordHasher] })
export class AccessModule {}
