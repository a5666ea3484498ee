import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Foundation1795334016542 implements MigrationInterface {
  name = 'Foundation1795334016542';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "users" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "username" text NOT NULL, "email" text, "password_hash" text NOT NULL, "disabled" boolean NOT NULL DEFAULT false, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_fe0bb3f6520ee0469504521e710" UNIQUE ("username"), CONSTRAINT "PK_a3ffb1c0c8416b9fc6f907b7433" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE TABLE "api_keys" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" text NOT NULL, "prefix" text NOT NULL, "key_hash" text NOT NULL, "created_by" uuid NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE, "revoked_at" TIMESTAMP WITH TIME ZONE, "last_used_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_6f6105c8efe05b310d046cbdb3d" UNIQUE ("prefix"), CONSTRAINT "PK_5c8a79801b44bd27b79228e1dad" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "idx_api_keys_created_by" ON "api_keys"  ("created_by") `);
    await queryRunner.query(`CREATE TABLE "audit_events" ("seq" bigint NOT NULL, "id" uuid NOT NULL, "occurred_at" TIMESTAMP WITH TIME ZONE NOT NULL, "actor_type" text NOT NULL, "actor_id" text, "action" text NOT NULL, "resource_type" text NOT NULL, "resource_id" text, "outcome" text NOT NULL, "ip" text, "user_agent" text, "request_id" text, "details" jsonb NOT NULL DEFAULT '{}', "prev_hash" text NOT NULL, "hash" text NOT NULL, CONSTRAINT "UQ_910f64d901a5c3e9878f0d4a407" UNIQUE ("id"), CONSTRAINT "PK_6e299f5706e715265416fefe53e" PRIMARY KEY ("seq"))`);
    await queryRunner.query(`CREATE INDEX "idx_audit_events_occurred_at" ON "audit_events"  ("occurred_at") `);
    await queryRunner.query(`CREATE INDEX "idx_audit_events_actor" ON "audit_events"  ("actor_id", "seq") `);
    await queryRunner.query(`CREATE INDEX "idx_audit_events_resource" ON "audit_events"  ("resource_type", "resource_id", "seq") `);
    await queryRunner.query(`CREATE INDEX "idx_audit_events_action" ON "audit_events"  ("action", "seq") `);
    await queryRunner.query(`CREATE TABLE "audit_chain_head" ("id" smallint NOT NULL, "last_seq" bigint NOT NULL, "last_hash" text NOT NULL, CONSTRAINT "PK_9211408bf584034de409b1bbec5" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE TABLE "login_failures" ("key" text NOT NULL, "failures" integer NOT NULL, "window_started_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_917877ed32c9d30e8b6b72caae3" PRIMARY KEY ("key"))`);
    await queryRunner.query(`CREATE TABLE "refresh_tokens" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "user_id" uuid NOT NULL, "family_id" uuid NOT NULL, "token_hash" text NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "spent_at" TIMESTAMP WITH TIME ZONE, "revoked_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_a7838d2ba25be1342091b6695f1" UNIQUE ("token_hash"), CONSTRAINT "PK_7d8bee0204106019488c4c50ffa" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "idx_refresh_tokens_user" ON "refresh_tokens"  ("user_id") `);
    await queryRunner.query(`CREATE INDEX "idx_refresh_tokens_family" ON "refresh_tokens"  ("family_id") `);
    await queryRunner.query(`CREATE TABLE "roles" ("name" text NOT NULL, "description" text NOT NULL DEFAULT '', "permissions" text array NOT NULL DEFAULT '{}', "built_in" boolean NOT NULL DEFAULT false, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_648e3f5447f725579d7d4ffdfb7" PRIMARY KEY ("name"))`);
    await queryRunner.query(`CREATE TABLE "user_roles" ("user_id" uuid NOT NULL, "role_name" text NOT NULL, CONSTRAINT "PK_c8d9ca75dfb1ebc8e57ab2cf799" PRIMARY KEY ("user_id", "role_name"))`);
    await queryRunner.query(`CREATE INDEX "idx_user_roles_role" ON "user_roles"  ("role_name") `);
    await queryRunner.query(`CREATE TABLE "api_key_roles" ("api_key_id" uuid NOT NULL, "role_name" text NOT NULL, CONSTRAINT "PK_7f8cc887c9c02ee882a07165aa4" PRIMARY KEY ("api_key_id", "role_name"))`);
    await queryRunner.query(`CREATE INDEX "idx_api_key_roles_role" ON "api_key_roles"  ("role_name") `);
    await queryRunner.query(`CREATE TABLE "system_secrets" ("name" text NOT NULL, "value" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_8313cb2fec1c668060c62ca7ac6" PRIMARY KEY ("name"))`);
    await queryRunner.query(`ALTER TABLE "api_keys" ADD CONSTRAINT "FK_983d7eb19ca94bb8e343293068e" FOREIGN KEY ("created_by") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "refresh_tokens" ADD CONSTRAINT "FK_3ddc983c5f7bcf132fd8732c3f4" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "user_roles" ADD CONSTRAINT "FK_87b8888186ca9769c960e926870" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "user_roles" ADD CONSTRAINT "FK_85683c502a3882013c989f4ee35" FOREIGN KEY ("role_name") REFERENCES "roles"("name") ON DELETE RESTRICT ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "api_key_roles" ADD CONSTRAINT "FK_114f6d8746728fe427e161ac45b" FOREIGN KEY ("api_key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "api_key_roles" ADD CONSTRAINT "FK_21733a5d62907dc7a33499093f6" FOREIGN KEY ("role_name") REFERENCES "roles"("name") ON DELETE RESTRICT ON UPDATE NO ACTION`);
    // Hand-written: what TypeORM cannot express.
    // The audit trail is append-only: the database itself refuses UPDATE, DELETE and TRUNCATE.
    await queryRunner.query(`CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await queryRunner.query(`CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON "audit_events" FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()`);
    await queryRunner.query(`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON "audit_events" FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()`);
    await queryRunner.query(`ALTER TABLE "audit_events" ADD CONSTRAINT "ck_audit_events_outcome" CHECK (outcome IN ('success', 'denied', 'error'))`);
    await queryRunner.query(`ALTER TABLE "audit_events" ADD CONSTRAINT "ck_audit_events_actor_type" CHECK (actor_type IN ('user', 'agent', 'api_key', 'system'))`);
    await queryRunner.query(`INSERT INTO "audit_chain_head" (id, last_seq, last_hash) VALUES (1, 0, repeat('0', 64))`);
    // Built-in roles. Their permissions may be edited by an admin but never emptied; they cannot be deleted.
    await queryRunner.query(`INSERT INTO "roles" (name, description, permissions, built_in) VALUES
      ('admin', 'Everything, including users, roles, API keys and the audit trail', '{*}', true),
      ('operator', 'Runs the fleet: tasks, workflows, pipelines, agents, locks and events',
        '{agents:read,agents:write,tasks:read,tasks:write,tasks:manage,workflows:read,workflows:write,pipelines:read,pipelines:write,pipelines:execute,locks:read,locks:write,locks:force,events:read}', true),
      ('viewer', 'Read-only access to the fleet, including events',
        '{agents:read,tasks:read,workflows:read,pipelines:read,locks:read,events:read}', true),
      ('agent', 'Registers agents and acts as them: claim, progress, complete, fail, heartbeat, locks',
        '{agents:read,agents:act,tasks:read,tasks:write,locks:read,locks:write}', true)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER audit_events_no_truncate ON "audit_events"`);
    await queryRunner.query(`DROP TRIGGER audit_events_no_update_delete ON "audit_events"`);
    await queryRunner.query(`DROP FUNCTION audit_events_refuse_change()`);
    await queryRunner.query(`ALTER TABLE "api_key_roles" DROP CONSTRAINT "FK_21733a5d62907dc7a33499093f6"`);
    await queryRunner.query(`ALTER TABLE "api_key_roles" DROP CONSTRAINT "FK_114f6d8746728fe427e161ac45b"`);
    await queryRunner.query(`ALTER TABLE "user_roles" DROP CONSTRAINT "FK_85683c502a3882013c989f4ee35"`);
    await queryRunner.query(`ALTER TABLE "user_roles" DROP CONSTRAINT "FK_87b8888186ca9769c960e926870"`);
    await queryRunner.query(`ALTER TABLE "refresh_tokens" DROP CONSTRAINT "FK_3ddc983c5f7bcf132fd8732c3f4"`);
    await queryRunner.query(`ALTER TABLE "api_keys" DROP CONSTRAINT "FK_983d7eb19ca94bb8e343293068e"`);
    await queryRunner.query(`DROP TABLE "system_secrets"`);
    await queryRunner.query(`DROP INDEX "public"."idx_api_key_roles_role"`);
    await queryRunner.query(`DROP TABLE "api_key_roles"`);
    await queryRunner.query(`DROP INDEX "public"."idx_user_roles_role"`);
    await queryRunner.query(`DROP TABLE "user_roles"`);
    await queryRunner.query(`DROP TABLE "roles"`);
    await queryRunner.query(`DROP INDEX "public"."idx_refresh_tokens_family"`);
    await queryRunner.query(`DROP INDEX "public"."idx_refresh_tokens_user"`);
    await queryRunner.query(`DROP TABLE "refresh_tokens"`);
    await queryRunner.query(`DROP TABLE "login_failures"`);
    await queryRunner.query(`DROP TABLE "audit_chain_head"`);
    await queryRunner.query(`DROP INDEX "public"."idx_audit_events_action"`);
    await queryRunner.query(`DROP INDEX "public"."idx_audit_events_resource"`);
    await queryRunner.query(`DROP INDEX "public"."idx_audit_events_actor"`);
    await queryRunner.query(`DROP INDEX "public"."idx_audit_events_occurred_at"`);
    await queryRunner.query(`DROP TABLE "audit_events"`);
    await queryRunner.query(`DROP INDEX "public"."idx_api_keys_created_by"`);
    await queryRunner.query(`DROP TABLE "api_keys"`);
    await queryRunner.query(`DROP TABLE "users"`);
  }
}
