import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Audit rows and events are staged unsealed by the change (audit_pending, events_pending) and
 * sealed after commit by one sealer (apps/server/src/outbox/sealer.service.ts), so no request
 * waits on the chain or sequence heads. Rows still unsealed from before this migration do not
 * exist: the old path sealed inside the change's transaction.
 */
export class SealAfterCommit1795339100000 implements MigrationInterface {
  name = 'SealAfterCommit1795339100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // CACHE 1 (the default) matters: a cached range per session would break the ticket order.
    await queryRunner.query(`CREATE SEQUENCE "commit_ticket_seq" AS bigint CACHE 1`);
    await queryRunner.query(
      `CREATE TABLE "audit_pending" ("ticket" bigint NOT NULL, "ord" integer NOT NULL, "xid" bigint NOT NULL DEFAULT (pg_current_xact_id()::text)::bigint, "committed_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT clock_timestamp(), "id" uuid NOT NULL, "occurred_at" TIMESTAMP WITH TIME ZONE NOT NULL, "actor_type" text NOT NULL, "actor_id" text, "action" text NOT NULL, "resource_type" text NOT NULL, "resource_id" text, "outcome" text NOT NULL, "ip" text, "user_agent" text, "request_id" text, "details" jsonb NOT NULL, CONSTRAINT "pk_audit_pending" PRIMARY KEY ("ticket", "ord"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "events_pending" ("ticket" bigint NOT NULL, "ord" integer NOT NULL, "xid" bigint NOT NULL DEFAULT (pg_current_xact_id()::text)::bigint, "committed_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT clock_timestamp(), "type" text NOT NULL, "payload" jsonb NOT NULL, "agent_id" uuid, "agent_owner" text, CONSTRAINT "pk_events_pending" PRIMARY KEY ("ticket", "ord"))`,
    );
    // Staged rows are inserted and deleted, never changed.
    await queryRunner.query(`CREATE FUNCTION pending_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% rows are sealed or left alone, never updated', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await queryRunner.query(`CREATE TRIGGER audit_pending_no_update BEFORE UPDATE ON "audit_pending" FOR EACH ROW EXECUTE FUNCTION pending_refuse_update()`);
    await queryRunner.query(`CREATE TRIGGER events_pending_no_update BEFORE UPDATE ON "events_pending" FOR EACH ROW EXECUTE FUNCTION pending_refuse_update()`);
    // When the sealer emitted the row: sealed → emitted lag is measured from it.
    await queryRunner.query(`ALTER TABLE "events" ADD "sealed_at" TIMESTAMP WITH TIME ZONE`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "events" DROP COLUMN "sealed_at"`);
    await queryRunner.query(`DROP TRIGGER events_pending_no_update ON "events_pending"`);
    await queryRunner.query(`DROP TRIGGER audit_pending_no_update ON "audit_pending"`);
    await queryRunner.query(`DROP FUNCTION pending_refuse_update()`);
    await queryRunner.query(`DROP TABLE "events_pending"`);
    await queryRunner.query(`DROP TABLE "audit_pending"`);
    await queryRunner.query(`DROP SEQUENCE "commit_ticket_seq"`);
  }
}
