import { Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ApiKeyEntity } from '../api-keys/api-key.entity';
import { UserEntity } from '../users/user.entity';
import { RoleEntity } from './role.entity';

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

/** A role held by an API key. */
@Entity('api_key_roles')
@Index('idx_api_key_roles_role', ['roleName'])
export class ApiKeyRoleEntity {
  @PrimaryColumn({ name: 'api_key_id', type: 'uuid' })
  apiKeyId: string;

  @PrimaryColumn({ name: 'role_name', type: 'text' })
  roleName: string;

  @ManyToOne(() => ApiKeyEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'api_key_id' })
  apiKey?: ApiKeyEntity;

  @ManyToOne(() => RoleEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'role_name' })
  role?: RoleEntity;
}
