import { Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { RoleEntity } from '../roles/role.entity';
import { UserEntity } from './user.entity';

/** A role held by a user. A role cannot be deleted while anyone holds it (RESTRICT). */
@Entity('user_roles')
@Index('idx_user_roles_role', ['roleName'])
export class UserRoleEntity {
  @PrimaryColumn({ name: 'user_id', type: 'uuid' })
  userId: string;

  @PrimaryColumn({ name: 'role_name', type: 'text' })
  roleName: string;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: UserEntity;

  @ManyToOne(() => RoleEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'role_name' })
  role?: RoleEntity;
}
