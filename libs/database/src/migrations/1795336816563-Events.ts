import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Events1795336816563 implements MigrationInterface {
  name = 'Events1795336816563';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "events" ("seq" bigint NOT NULL, "type" text NOT NULL, "payload" jsonb NOT NULL, "agent_id" uuid, "agent_owner" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_44840d7c5944a3bfbf21a6113d8" PRIMARY KEY ("seq"))`);
    await queryRunner.query(`CREATE INDEX "idx_events_created_at" ON "events"  ("created_at") `);
    await queryRunner.query(`CREATE TABLE "events_head" ("id" smallint NOT NULL, "last_seq" bigint NOT NULL, CONSTRAINT "PK_ed917cc0e069f387862aa545c49" PRIMARY KEY ("id"))`);
    // Hand-written: the outbox sequence starts at 0; seq n+1 is handed out after n commits.
    await queryRunner.query(`INSERT INTO "events_head" (id, last_seq) VALUES (1, 0)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "events_head"`);
    await queryRunner.query(`DROP INDEX "public"."idx_events_created_at"`);
    await queryRunner.query(`DROP TABLE "events"`);
  }
}
