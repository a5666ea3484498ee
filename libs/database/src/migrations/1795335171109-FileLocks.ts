import type { MigrationInterface, QueryRunner } from 'typeorm';

export class FileLocks1795335171109 implements MigrationInterface {
  name = 'FileLocks1795335171109';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "file_locks" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "path" text COLLATE "C" NOT NULL, "access" text NOT NULL, "holder_type" text NOT NULL, "holder_id" text NOT NULL, "task_id" uuid, "fencing_token" bigint NOT NULL, "ttl_sec" integer NOT NULL, "acquired_at" TIMESTAMP WITH TIME ZONE NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "released_at" TIMESTAMP WITH TIME ZONE, "release_reason" text, CONSTRAINT "ck_file_locks_released" CHECK ((released_at IS NULL) = (release_reason IS NULL)), CONSTRAINT "ck_file_locks_release_reason" CHECK (release_reason IS NULL OR release_reason IN ('released', 'force_released', 'expired', 'task_finished', 'agent_deregistered', 'agent_offline', 'agent_disabled')), CONSTRAINT "ck_file_locks_holder_type" CHECK (holder_type IN ('agent', 'user')), CONSTRAINT "ck_file_locks_access" CHECK (access IN ('read', 'write', 'exclusive')), CONSTRAINT "PK_7606770635fbe3d6a1c3abe66e9" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "idx_file_locks_active_token" ON "file_locks"  ("fencing_token") WHERE released_at IS NULL`);
    await queryRunner.query(`CREATE INDEX "idx_file_locks_active_expiry" ON "file_locks"  ("expires_at") WHERE released_at IS NULL`);
    await queryRunner.query(`CREATE INDEX "idx_file_locks_active_task" ON "file_locks"  ("task_id") WHERE released_at IS NULL AND task_id IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "idx_file_locks_active_holder" ON "file_locks"  ("holder_type", "holder_id") WHERE released_at IS NULL`);
    await queryRunner.query(`CREATE INDEX "idx_file_locks_active_path" ON "file_locks"  ("path") WHERE released_at IS NULL`);
    // Hand-written: fencing tokens. With CACHE 1 every session of every server instance draws
    // from one increasing counter that survives restarts; acquisitions of overlapping paths take
    // turns (path advisory locks), so tokens increase strictly per path and also across
    // overlapping paths (a directory lock and a file lock under it).
    await queryRunner.query(`CREATE SEQUENCE "file_lock_fencing_seq" AS bigint START 1 CACHE 1`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP SEQUENCE "file_lock_fencing_seq"`);
    await queryRunner.query(`DROP INDEX "public"."idx_file_locks_active_path"`);
    await queryRunner.query(`DROP INDEX "public"."idx_file_locks_active_holder"`);
    await queryRunner.query(`DROP INDEX "public"."idx_file_locks_active_task"`);
    await queryRunner.query(`DROP INDEX "public"."idx_file_locks_active_expiry"`);
    await queryRunner.query(`DROP INDEX "public"."idx_file_locks_active_token"`);
    await queryRunner.query(`DROP TABLE "file_locks"`);
  }
}
