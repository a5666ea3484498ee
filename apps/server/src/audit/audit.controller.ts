import { Body, Controller, Get, Header, HttpCode, Post, Query, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Readable } from 'node:stream';
import { RequirePermission } from '../access/decorators';
import { Permission } from '../access/permissions';
import { AuditService } from './audit.service';
import { AuditCheckpointDto, AuditEventListDto, AuditVerificationDto, CheckpointVerificationDto, ExportAuditQueryDto, ListAuditQueryDto, VerifyCheckpointDto } from './dto/audit.dto';

@ApiTags('audit')
@ApiBearerAuth()
@RequirePermission(Permission.AuditRead)
@Controller('audit-events')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOkResponse({ type: AuditEventListDto })
  list(@Query() query: ListAuditQueryDto): Promise<AuditEventListDto> {
    return this.audit.list(query);
  }

  @Get('verify')
  @ApiOkResponse({ type: AuditVerificationDto })
  verify(): Promise<AuditVerificationDto> {
    return this.audit.verify();
  }

  @Get('checkpoint')
  @ApiOkResponse({ type: AuditCheckpointDto, description: 'A signed checkpoint of the chain head; 404 when AUDIT_CHECKPOINT_KEY is not set' })
  checkpoint(): Promise<AuditCheckpointDto> {
    return this.audit.checkpoint();
  }

  @Post('checkpoint/verify')
  @HttpCode(200)
  @ApiOkResponse({ type: CheckpointVerificationDto, description: 'Whether the checkpoint is this server\'s and the chain still holds its hash' })
  verifyCheckpoint(@Body() body: VerifyCheckpointDto): Promise<CheckpointVerificationDto> {
    return this.audit.verifyCheckpoint(body);
  }

  @Get('export')
  @Header('Cache-Control', 'no-store')
  @ApiProduces('application/x-ndjson', 'text/csv')
  export(@Query() query: ExportAuditQueryDto): StreamableFile {
    const csv = query.format === 'csv';
    return new StreamableFile(Readable.from(this.audit.export(query, query.format)), {
      type: csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
      disposition: `attachment; filename="audit-events.${csv ? 'csv' : 'ndjson'}"`,
    });
  }
}
