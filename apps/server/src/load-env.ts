/**
 * Loads `.env` from the working directory when there is one, before anything reads the
 * environment (main.ts imports this first, ahead of tracing). Variables already set in the
 * environment win over the file; a missing file is not an error. Node's own parser
 * (`process.loadEnvFile`): `KEY=value` lines, `#` comments, optional quotes.
 */
import { existsSync } from 'node:fs';

const file = process.env.ENV_FILE ?? '.env';
if (existsSync(file)) {
  const before = { ...process.env };
  process.loadEnvFile(file);
  // loadEnvFile overrides; the process environment is the stronger source.
  for (const [key, value] of Object.entries(before)) process.env[key] = value;
}
