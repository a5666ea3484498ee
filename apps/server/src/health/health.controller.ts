import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { migrationsApplied } from '../../../../libs/database/src';
import { Public } from '../auth/decorators';
import { DomainError } from '../common/errors';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The process is up and serving HTTP. */
  @Get('live')
  @Header('Cache-Control', 'no-store')
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** The database answers and every migration is applied. */
  @Get('ready')
  @Header('Cache-Control', 'no-store')
  @ApiOkResponse({ schema: { example: { status: 'ok', database: 'up', migrations: 'applied' } } })
  @ApiServiceUnavailableResponse({ description: 'database unreachable or migrations pending' })
  async ready(): Promise<{ status: 'ok'; database: 'up'; migrations: 'applied' }> {
    try {
      await this.dataSource.query('SELECT 1');
    } catch {
      throw new DomainError('service_unavailable', 'The database is unreachable', { database: 'down' }, 5);
    }
    if (!(await migrationsApplied(this.dataSource))) {
      throw new DomainError('service_unavailable', 'Migrations are pending', { migrations: 'pending' }, 5);
    }
    return { status: 'ok', database: 'up', migrations: 'applied' };
  }
}
