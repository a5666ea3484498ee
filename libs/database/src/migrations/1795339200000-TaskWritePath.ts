import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The tasks table shaped for its write path (issue 14).
 *
 * Every status change is a non-HOT update (status is in the partial indexes' predicates), and a
 * non-HOT update adds an entry to every index whose predicate the new row version satisfies. So
 * each index now holds only the rows a query needs: run, workflow and dependency indexes skip the
 * rows without one; the (status, type) index and the running-lease index are gone (no query needs
 * them: the lapsed-lease sweep reads the few running rows through idx_tasks_assigned_agent), which
 * also makes progress reports and heartbeat lease extensions HOT updates; fillfactor 80 leaves
 * room on each page for them. The waiting index is split per state, each in its sweep's order
 * (the pending sweep used to walk the whole created_at index), and failed/cancelled tasks get a
 * small list index of their own, written only when a task ends that way.
 *
 * Claims are served per queue: a queue is one distinct set of required capabilities, keyed by
 * task_queue_key() (the sorted, deduplicated set as text). The ready index is ordered by queue
 * first, and task_queues lists every set ever seen, so a claim visits only the queues whose set the
 * agent has, whatever waits for other agents. The key is computed by the index itself and the
 * registry row by a statement trigger, so no insert path can forget either.
 */
export class TaskWritePath1795339200000 implements MigrationInterface {
  name = 'TaskWritePath1795339200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // IMMUTABLE (it is an index expression): byte order ("C"), and text[] output quotes elements,
    // so distinct sets get distinct keys. Most tasks need one capability: no sort then.
    await queryRunner.query(`CREATE FUNCTION task_queue_key(capabilities text[]) RETURNS text
      LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
      BEGIN
        IF cardinality(capabilities) <= 1 THEN
          RETURN capabilities::text;
        END IF;
        RETURN (SELECT array_agg(DISTINCT c COLLATE "C" ORDER BY c COLLATE "C") FROM unnest(capabilities) AS c)::text;
      END $$`);
    await queryRunner.query(
      `CREATE TABLE "task_queues" ("queue" text COLLATE "C" NOT NULL, "capabilities" text array NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "pk_task_queues" PRIMARY KEY ("queue"))`,
    );
    await queryRunner.query(`CREATE INDEX "idx_task_queues_capabilities" ON "task_queues" USING gin ("capabilities")`);
    // Once per INSERT statement, not per row, and never on updates (required_capabilities is
    // never updated). A set already registered costs one primary-key probe.
    await queryRunner.query(`CREATE FUNCTION tasks_register_queues() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO task_queues (queue, capabilities)
        SELECT DISTINCT ON (n.queue) n.queue, n.capabilities
          FROM (SELECT task_queue_key(required_capabilities) COLLATE "C" AS queue, required_capabilities AS capabilities
                  FROM new_tasks) n
         WHERE NOT EXISTS (SELECT 1 FROM task_queues q WHERE q.queue = n.queue)
        ON CONFLICT (queue) DO NOTHING;
        RETURN NULL;
      END $$`);
    await queryRunner.query(
      `CREATE TRIGGER "tasks_register_queues" AFTER INSERT ON "tasks" REFERENCING NEW TABLE AS new_tasks FOR EACH STATEMENT EXECUTE FUNCTION tasks_register_queues()`,
    );
    // Existing rows (the trigger above already holds off concurrent inserts until commit).
    await queryRunner.query(
      `INSERT INTO task_queues (queue, capabilities)
       SELECT DISTINCT ON (task_queue_key(required_capabilities) COLLATE "C") task_queue_key(required_capabilities) COLLATE "C", required_capabilities
         FROM tasks
       ON CONFLICT (queue) DO NOTHING`,
    );

    await queryRunner.query(`DROP INDEX "public"."idx_tasks_claimable"`);
    await queryRunner.query(
      `CREATE INDEX "idx_tasks_ready" ON "tasks" (task_queue_key(required_capabilities) COLLATE "C", "priority", "created_at", "id") WHERE status = 'ready'`,
    );
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_status_type"`);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_running_lease"`);
    // One index per waiting state, each in the order its sweep reads it (pending: oldest first).
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_waiting"`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_pending" ON "tasks" ("created_at") WHERE status = 'pending'`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_retrying" ON "tasks" ("next_attempt_at") WHERE status = 'retrying'`);
    // The operator's list of what went wrong, newest first; written only when a task ends that way.
    await queryRunner.query(`CREATE INDEX "idx_tasks_failed" ON "tasks" ("created_at", "id") WHERE status IN ('failed', 'cancelled')`);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_run"`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_run" ON "tasks" ("run_id") WHERE run_id IS NOT NULL`);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_workflow"`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_workflow" ON "tasks" ("workflow_id") WHERE workflow_id IS NOT NULL`);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_depends_on_gin"`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_depends_on_gin" ON "tasks" USING gin ("depends_on") WHERE depends_on <> '{}'`);
    // Applies to pages written from now on; existing pages keep their packing until rewritten.
    await queryRunner.query(`ALTER TABLE "tasks" SET (fillfactor = 80)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" RESET (fillfactor)`);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_depends_on_gin"`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_depends_on_gin" ON "tasks" USING gin ("depends_on")`);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_workflow"`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_workflow" ON "tasks" ("workflow_id") `);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_run"`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_run" ON "tasks" ("run_id") `);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_failed"`);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_retrying"`);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_pending"`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_waiting" ON "tasks" ("status", "next_attempt_at") WHERE status IN ('pending', 'retrying')`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_running_lease" ON "tasks" ("lease_expires_at") WHERE status = 'running'`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_status_type" ON "tasks" ("status", "type") `);
    await queryRunner.query(`DROP INDEX "public"."idx_tasks_ready"`);
    await queryRunner.query(`CREATE INDEX "idx_tasks_claimable" ON "tasks" ("priority", "created_at", "id") WHERE status = 'ready'`);
    await queryRunner.query(`DROP TRIGGER "tasks_register_queues" ON "tasks"`);
    await queryRunner.query(`DROP FUNCTION tasks_register_queues()`);
    await queryRunner.query(`DROP TABLE "task_queues"`);
    await queryRunner.query(`DROP FUNCTION task_queue_key(text[])`);
  }
}
