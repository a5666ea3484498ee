import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** Create requests replayed by Idempotency-Key: same key + same body → the stored response. */
@Entity('idempotency_keys')
export class IdempotencyKeyEntity {
  /** `<owner>|<route>|<Idempotency-Key>` */
  @PrimaryColumn({ type: 'text' })
  scope: string;

  @Column({ name: 'request_hash', type: 'text' })
  requestHash: string;

  @Column({ name: 'status_code', type: 'integer' })
  statusCode: number;

  /** The original response body, replayed verbatim. */
  @Column({ type: 'jsonb' })
  response: unknown;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
