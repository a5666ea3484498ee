import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Hand-written (no entity): the database gauges of /metrics as last computed, one row, so the
 * gauge query runs once per METRICS_GAUGE_REFRESH_MS for the whole fleet (metrics.repository.ts).
 * UNLOGGED: derived data; after a crash the next scrape computes it again.
 */
export class MetricsSnapshot1795339400000 implements MigrationInterface {
  name = 'MetricsSnapshot1795339400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE UNLOGGED TABLE "metrics_snapshot" ("id" smallint NOT NULL DEFAULT 1, "taken_at" TIMESTAMP WITH TIME ZONE NOT NULL, "gauges" jsonb NOT NULL, CONSTRAINT "pk_metrics_snapshot" PRIMARY KEY ("id"), CONSTRAINT "chk_metrics_snapshot_one_row" CHECK ("id" = 1))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "metrics_snapshot"`);
  }
}
