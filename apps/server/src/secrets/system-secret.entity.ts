import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** Secrets the server generates for itself (JWT key, webhook key), shared by every instance. */
@Entity('system_secrets')
export class SystemSecretEntity {
  @PrimaryColumn({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  value: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
