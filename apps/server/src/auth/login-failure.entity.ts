import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Login attempts per `user-ip:<name>|<addr>`, `user:<name>` and `ip:<addr>` in a fixed window,
 * counted before the password is checked (a success gives its attempt back); shared by every instance.
 */
@Entity('login_failures')
export class LoginFailureEntity {
  @PrimaryColumn({ type: 'text' })
  key: string;

  @Column({ type: 'integer' })
  failures: number;

  @Column({ name: 'window_started_at', type: 'timestamptz' })
  windowStartedAt: Date;
}
