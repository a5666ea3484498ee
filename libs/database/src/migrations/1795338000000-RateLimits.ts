import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Hand-written (no entity): the shared rate-limit counters. UNLOGGED — a crash may reset the
 * counters, which only forgives one minute of requests, and every request writes here.
 */
export class RateLimits1795338000000 implements MigrationInterface {
  name = 'RateLimits1795338000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE UNLOGGED TABLE "rate_limit_counters" ("bucket" text NOT NULL, "window_start" TIMESTAMP WITH TIME ZONE NOT NULL, "hits" integer NOT NULL, CONSTRAINT "pk_rate_limit_counters" PRIMARY KEY ("bucket")) WITH (fillfactor = 70)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "rate_limit_counters"`);
  }
}
