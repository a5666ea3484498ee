import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';

export type SecretName = 'jwt_signing_key' | 'webhook_signing_key';

/**
 * Secrets the server generates for itself when they are not configured. The first instance to ask
 * creates one; every other instance reads the same row, so all of them agree.
 */
@Injectable()
export class SecretsService {
  private readonly cache = new Map<SecretName, string>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async getOrCreate(name: SecretName): Promise<string> {
    const cached = this.cache.get(name);
    if (cached) return cached;
    await this.dataSource.query(
      'INSERT INTO system_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
      [name, randomBytes(48).toString('base64url')],
    );
    const rows = await this.dataSource.query<{ value: string }[]>('SELECT value FROM system_secrets WHERE name = $1', [
      name,
    ]);
    this.cache.set(name, rows[0].value);
    return rows[0].value;
  }
}
