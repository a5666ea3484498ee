import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** API keys: `amk_<prefix>_<secret>`, 64 bits of public prefix and 256 bits of secret. */
export const API_KEY_PATTERN = /^amk_([A-Za-z0-9_-]{11})_([A-Za-z0-9_-]{43})$/;

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export function newApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = randomBytes(8).toString('base64url');
  const key = `amk_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: sha256Hex(key) };
}

export function parseApiKey(token: string): { prefix: string } | null {
  const match = API_KEY_PATTERN.exec(token);
  return match ? { prefix: match[1] } : null;
}

export function newRefreshToken(): { token: string; hash: string } {
  const token = `rt_${randomBytes(32).toString('base64url')}`;
  return { token, hash: sha256Hex(token) };
}

export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
