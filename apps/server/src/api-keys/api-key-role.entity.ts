import { Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { RoleEntity } from '../roles/role.entity';
import { ApiKeyEntity } from './api-key.entity';

/** A role held by an API key. A role cannot be deleted while a key holds it (RESTRICT). */
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
