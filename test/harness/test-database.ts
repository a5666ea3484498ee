import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** Set by the Jest global setup; read by every test file. */
export const ENV_ADMIN_URL = 'AM_TEST_ADMIN_URL';
export const ENV_TEMPLATE = 'AM_TEST_TEMPLATE_DB';

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh database cloned from the migrated template: one per test file, so files never share state. */
export async function cloneTemplateDatabase(): Promise<{ url: string; name: string }> {
  const adminUrl = process.env[ENV_ADMIN_URL];
  const template = process.env[ENV_TEMPLATE];
  if (!adminUrl || !template) throw new Error('the e2e global setup did not run (AM_TEST_ADMIN_URL is unset)');
  const name = `${template}_${randomBytes(5).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  return { url: withDatabase(adminUrl, name), name };
}

export async function dropDatabase(name: string): Promise<void> {
  const adminUrl = process.env[ENV_ADMIN_URL];
  if (!adminUrl) return;
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}
