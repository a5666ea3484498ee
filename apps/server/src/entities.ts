import { AgentEntity } from './agents/agent.entity';
import { ApiKeyEntity } from './api-keys/api-key.entity';
import { ApiKeyRoleEntity } from './api-keys/api-key-role.entity';
import { AuditChainHeadEntity, AuditEventEntity } from './audit/audit-event.entity';
import { LoginFailureEntity } from './auth/login-failure.entity';
import { RefreshTokenEntity } from './auth/refresh-token.entity';
import { IdempotencyKeyEntity } from './common/idempotency/idempotency-key.entity';
import { EventEntity, EventsHeadEntity } from './events/event.entity';
import { FileLockEntity } from './file-locks/file-lock.entity';
import { AuditPendingEntity, EventPendingEntity } from './outbox/pending.entity';
import { PipelineEntity, PipelineRunEntity, PipelineVersionEntity, WebhookDeliveryEntity } from './pipelines/pipeline.entity';
import { RoleEntity } from './roles/role.entity';
import { SystemSecretEntity } from './secrets/system-secret.entity';
import { TaskEntity, TaskLogEntity, TaskQueueEntity } from './tasks/task.entity';
import { UserEntity } from './users/user.entity';
import { UserRoleEntity } from './users/user-role.entity';
import { WorkflowAuditReportEntity, WorkflowEntity } from './workflows/workflow.entity';

/** Every entity the server maps; the data source and the migration generator read this list. */
export const ENTITIES = [
  SystemSecretEntity,
  UserEntity,
  RoleEntity,
  UserRoleEntity,
  ApiKeyEntity,
  ApiKeyRoleEntity,
  RefreshTokenEntity,
  LoginFailureEntity,
  AuditEventEntity,
  AuditChainHeadEntity,
  AuditPendingEntity,
  AgentEntity,
  TaskEntity,
  TaskLogEntity,
  TaskQueueEntity,
  IdempotencyKeyEntity,
  FileLockEntity,
  EventEntity,
  EventsHeadEntity,
  EventPendingEntity,
  WorkflowEntity,
  WorkflowAuditReportEntity,
  PipelineEntity,
  PipelineVersionEntity,
  PipelineRunEntity,
  WebhookDeliveryEntity,
];
