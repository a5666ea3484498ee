import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../common/logger';
import { ConfigError, loadConfig } from '../config/app-config';
import { openDatabase } from '../database/open-database';

/**
 * `migrate run` applies pending migrations; `migrate generate Name` writes a migration with the
 * SQL that brings the database (after all existing migrations) in line with the entities. Review
 * the generated file before committing it; add what TypeORM cannot express (triggers) by hand.
 */
/** Names of indexes created by hand in migrations. */
const HAND_WRITTEN = ['idx_tasks_depends_on_gin'];

async function main(): Promise<void> {
  const [command, name] = process.argv.slice(2);
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const db = await openDatabase(config, logger, { migrate: true });
  try {
    if (command === 'run') {
      logger.info('migrations are up to date');
      return;
    }
    if (command !== 'generate' || !name || !/^[A-Z][A-Za-z0-9]+$/.test(name)) {
      throw new Error('usage: migrate run | migrate generate PascalCaseName');
    }
    const log = await db.dataSource.driver.createSchemaBuilder().log();
    // Objects TypeORM cannot declare (GIN indexes, triggers) live in hand-written migration SQL;
    // the diff would otherwise propose dropping them.
    const handWritten = (q: { query: string }) => HAND_WRITTEN.some((name) => q.query.includes(`"${name}"`));
    const sql = { upQueries: log.upQueries.filter((q) => !handWritten(q)), downQueries: log.downQueries.filter((q) => !handWritten(q)) };
    if (sql.upQueries.length === 0) {
      logger.info('the entities match the migrations; nothing to generate');
      return;
    }
    const timestamp = Date.now();
    const quote = (q: string) => '`' + q.replace(/`/g, '\\`') + '`';
    const up = sql.upQueries.map((q) => `    await queryRunner.query(${quote(q.query)});`).join('\n');
    const down = sql.downQueries
      .reverse()
      .map((q) => `    await queryRunner.query(${quote(q.query)});`)
      .join('\n');
    const file = join(process.cwd(), 'libs/database/src/migrations', `${timestamp}-${name}.ts`);
    writeFileSync(
      file,
      `import type { MigrationInterface, QueryRunner } from 'typeorm';\n\nexport class ${name}${timestamp} implements MigrationInterface {\n  name = '${name}${timestamp}';\n\n  async up(queryRunner: QueryRunner): Promise<void> {\n${up}\n  }\n\n  async down(queryRunner: QueryRunner): Promise<void> {\n${down}\n  }\n}\n`,
    );
    logger.info({ file }, 'wrote migration; add it to libs/database/src/migrations/index.ts');
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof ConfigError ? err.message : String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
