import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The commit journal's staging insert as a PL/pgSQL function (issue 14, per-request cost).
 *
 * The journal travels with COMMIT in one simple-query round trip, so it cannot be a prepared
 * statement, and planning its two-insert statement cost more than running it. A PL/pgSQL
 * function keeps its statements' plans for the session: the round trip sends only
 * `SELECT am_stage_journal(<arrays>)`, which plans in microseconds. Same rows, same ticket rule
 * (drawn only when there is something to stage), and an event's `timestamp` is still the
 * commit statement's clock.
 */
export class StageJournalFunction1795339300000 implements MigrationInterface {
  name = 'StageJournalFunction1795339300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE FUNCTION am_stage_journal(
        a_id uuid[], a_occurred_at timestamptz[], a_actor_type text[], a_actor_id text[], a_action text[],
        a_resource_type text[], a_resource_id text[], a_outcome text[], a_ip text[], a_user_agent text[],
        a_request_id text[], a_details jsonb[],
        e_type text[], e_payload jsonb[], e_agent_id uuid[], e_agent_owner text[]) RETURNS void
      LANGUAGE plpgsql AS $$
      DECLARE
        t bigint;
      BEGIN
        IF cardinality(a_id) + cardinality(e_type) = 0 THEN
          RETURN;
        END IF;
        t := nextval('commit_ticket_seq');
        IF cardinality(a_id) > 0 THEN
          INSERT INTO audit_pending (ticket, ord, id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                                     outcome, ip, user_agent, request_id, details)
          SELECT t, x.ord, x.id, x.occurred_at, x.actor_type, x.actor_id, x.action, x.resource_type, x.resource_id,
                 x.outcome, x.ip, x.user_agent, x.request_id, x.details
            FROM unnest(a_id, a_occurred_at, a_actor_type, a_actor_id, a_action, a_resource_type, a_resource_id,
                        a_outcome, a_ip, a_user_agent, a_request_id, a_details)
                    WITH ORDINALITY AS x(id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                                         outcome, ip, user_agent, request_id, details, ord);
        END IF;
        IF cardinality(e_type) > 0 THEN
          INSERT INTO events_pending (ticket, ord, type, payload, agent_id, agent_owner)
          SELECT t, x.ord, x.type,
                 x.payload || jsonb_build_object('timestamp', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
                 x.agent_id, x.agent_owner
            FROM unnest(e_type, e_payload, e_agent_id, e_agent_owner) WITH ORDINALITY AS x(type, payload, agent_id, agent_owner, ord);
        END IF;
      END $$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP FUNCTION am_stage_journal(uuid[], timestamptz[], text[], text[], text[], text[], text[], text[], text[], text[], text[], jsonb[], text[], jsonb[], uuid[], text[])');
  }
}
