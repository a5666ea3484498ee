import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface StoredCredentials {
  server_url: string;
  username?: string;
  access_token: string;
  refresh_token?: string;
  saved_at: string;
}

/** ~/.agentmanager/credentials.json, or AGENTMANAGER_CREDENTIALS. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.AGENTMANAGER_CREDENTIALS ?? join(homedir(), '.agentmanager', 'credentials.json');
}

export function readCredentials(path = credentialsPath()): StoredCredentials | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as StoredCredentials;
  } catch {
    return undefined;
  }
}

/** Written with mode 0600 in a 0700 directory: the file holds a refresh token. */
export function writeCredentials(creds: StoredCredentials, path = credentialsPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600); // an existing file keeps its old mode on write
}

export function removeCredentials(path = credentialsPath()): void {
  rmSync(path, { force: true });
}
