import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Failed logins per `user:<name>` and `ip:<addr>` in a fixed window; shared by every instance. */
@Entity('login_failures')
export class LoginFailureEntity {
  @PrimaryColumn({ type: 'text' })
  key: string;

  @Column({ type: 'integer' })
  failures: number;

  @Column({ name: 'window_started_at', type: 'timestamptz' })
  windowStartedAt: Date;
}
