import { Module } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditRepository } from './audit.repository';
import { AuditService } from './audit.service';
import { DenialAudits } from './denial-audits';

@Module({
  controllers: [AuditController],
  providers: [AuditService, AuditRepository, DenialAudits],
  exports: [AuditService, DenialAudits],
})
export class AuditModule {}
