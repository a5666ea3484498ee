import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn,Unique, UpdateDateColumn } from 'typeorm';

export type AgentType = 'worker' | 'orchestrator' | 'validator';
export type AgentStatus = 'active' | 'draining' | 'offline' | 'disabled';

/**
 * A registered agent. `owner` is the credential that registered it ('user:<id>' or
 * 'api_key:<id>'): only that credential (or an admin) may act as it, and registering the same
 * name again under the same credential returns the same row.
 */
@Entity('agents')
@Unique('uq_agents_owner_name', ['owner', 'name'])
@Index('idx_agents_status_heartbeat', ['status', 'lastHeartbeat'])
@Check('ck_agents_type', `type IN ('worker', 'orchestrator', 'validator')`)
@Check('ck_agents_status', `status IN ('active', 'draining', 'offline', 'disabled')`)
export class AgentEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  owner: string;

  @Column({ type: 'text' })
  type: AgentType;

  @Column({ type: 'text', default: 'active' })
  status: AgentStatus;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  capabilities: string[];

  @Column({ type: 'jsonb', default: () => "'{}'" })
  endpoints: Record<string, unknown>;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  resources: Record<string, unknown>;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  metadata: Record<string, unknown>;

  @Column({ name: 'max_parallel_tasks', type: 'integer', default: 1 })
  maxParallelTasks: number;

  @Column({ name: 'current_load', type: 'double precision', default: 0 })
  currentLoad: number;

  @Column({ name: 'last_heartbeat', type: 'timestamptz', default: () => 'now()' })
  lastHeartbeat: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
