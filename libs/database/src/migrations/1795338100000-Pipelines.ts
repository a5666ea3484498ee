import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Pipelines1795338100000 implements MigrationInterface {
  name = 'Pipelines1795338100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "pipelines" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" text NOT NULL, "description" text, "current_version" integer NOT NULL DEFAULT '1', "archived_at" TIMESTAMP WITH TIME ZONE, "created_by" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_e38ea171cdfad107c1f3db2c036" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "idx_pipelines_created" ON "pipelines"  ("created_at", "id") `);
    await queryRunner.query(`CREATE TABLE "pipeline_versions" ("pipeline_id" uuid NOT NULL, "version" integer NOT NULL, "name" text NOT NULL, "description" text, "stages" jsonb NOT NULL, "dependencies" jsonb NOT NULL, "created_by" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_fa13421e0b074ab2128e136d569" PRIMARY KEY ("pipeline_id", "version"))`);
    await queryRunner.query(`CREATE TABLE "pipeline_runs" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "pipeline_id" uuid NOT NULL, "pipeline_version" integer NOT NULL, "status" text NOT NULL, "stages" jsonb NOT NULL, "input_data" jsonb, "parameters" jsonb, "output_data" jsonb, "notification" jsonb, "error" jsonb, "created_by" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "completed_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "ck_pipeline_runs_status" CHECK (status IN ('running', 'completed', 'failed', 'cancelled')), CONSTRAINT "PK_485786394df8fcdcbdbcdaedda3" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "idx_pipeline_runs_created" ON "pipeline_runs"  ("created_at", "id") `);
    await queryRunner.query(`CREATE INDEX "idx_pipeline_runs_pipeline" ON "pipeline_runs"  ("pipeline_id", "created_at", "id") `);
    await queryRunner.query(`CREATE TABLE "webhook_deliveries" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "run_id" uuid, "url" text NOT NULL, "event" text NOT NULL, "body" text NOT NULL, "status" text NOT NULL, "attempts" integer NOT NULL DEFAULT '0', "next_attempt_at" TIMESTAMP WITH TIME ZONE, "last_error" text, "last_status_code" integer, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "delivered_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "ck_webhook_deliveries_status" CHECK (status IN ('pending', 'delivered', 'failed')), CONSTRAINT "PK_535dd409947fb6d8fc6dfc0112a" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "idx_webhook_deliveries_run" ON "webhook_deliveries"  ("run_id") `);
    await queryRunner.query(`CREATE INDEX "idx_webhook_deliveries_due" ON "webhook_deliveries"  ("next_attempt_at") WHERE status = 'pending'`);
    await queryRunner.query(`ALTER TABLE "pipeline_versions" ADD CONSTRAINT "FK_d1e495c40371ddf3e7670b27ba0" FOREIGN KEY ("pipeline_id") REFERENCES "pipelines"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "pipeline_runs" ADD CONSTRAINT "FK_2273003e250ddc96a354d1b5c78" FOREIGN KEY ("pipeline_id") REFERENCES "pipelines"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "pipeline_runs" DROP CONSTRAINT "FK_2273003e250ddc96a354d1b5c78"`);
    await queryRunner.query(`ALTER TABLE "pipeline_versions" DROP CONSTRAINT "FK_d1e495c40371ddf3e7670b27ba0"`);
    await queryRunner.query(`DROP INDEX "public"."idx_webhook_deliveries_due"`);
    await queryRunner.query(`DROP INDEX "public"."idx_webhook_deliveries_run"`);
    await queryRunner.query(`DROP TABLE "webhook_deliveries"`);
    await queryRunner.query(`DROP INDEX "public"."idx_pipeline_runs_pipeline"`);
    await queryRunner.query(`DROP INDEX "public"."idx_pipeline_runs_created"`);
    await queryRunner.query(`DROP TABLE "pipeline_runs"`);
    await queryRunner.query(`DROP TABLE "pipeline_versions"`);
    await queryRunner.query(`DROP INDEX "public"."idx_pipelines_created"`);
    await queryRunner.query(`DROP TABLE "pipelines"`);
  }
}
