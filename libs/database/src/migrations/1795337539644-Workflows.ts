import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Workflows1795337539644 implements MigrationInterface {
  name = 'Workflows1795337539644';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "workflows" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" text, "description" text, "status" text NOT NULL, "audit" jsonb, "plan" jsonb, "rework_cycle" integer NOT NULL DEFAULT '0', "planner_task_id" uuid, "audit_task_id" uuid, "error" jsonb, "created_by" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "completed_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "ck_workflows_status" CHECK (status IN ('planning', 'running', 'auditing', 'completed', 'failed', 'cancelled')), CONSTRAINT "PK_5b5757cc1cd86268019fef52e0c" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "idx_workflows_created" ON "workflows"  ("created_at", "id") `);
    await queryRunner.query(`CREATE TABLE "workflow_audit_reports" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "workflow_id" uuid NOT NULL, "task_id" uuid NOT NULL, "rework_cycle" integer NOT NULL, "is_successful" boolean NOT NULL, "feedback" text, "rework_suggestions" jsonb NOT NULL DEFAULT '[]', "confidence_score" double precision, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_567bb635906283970debd1b1f23" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "idx_workflow_audit_reports_workflow" ON "workflow_audit_reports"  ("workflow_id", "created_at") `);
    await queryRunner.query(`ALTER TABLE "workflow_audit_reports" ADD CONSTRAINT "FK_b99eb38aac97e1678f62792971d" FOREIGN KEY ("workflow_id") REFERENCES "workflows"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "workflow_audit_reports" DROP CONSTRAINT "FK_b99eb38aac97e1678f62792971d"`);
    await queryRunner.query(`DROP INDEX "public"."idx_workflow_audit_reports_workflow"`);
    await queryRunner.query(`DROP TABLE "workflow_audit_reports"`);
    await queryRunner.query(`DROP INDEX "public"."idx_workflows_created"`);
    await queryRunner.query(`DROP TABLE "workflows"`);
  }
}
