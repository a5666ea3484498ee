import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { migrationsApplied } from '@agentmanager/database';
import { Public } from '../access/decorators';
import { DomainError } from '../common/errors';
import { ShutdownState } from '../lifecycle/shutdown-state';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly shutdown: ShutdownState,
  ) {}

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
  @ApiServiceUnavailableResponse({ description: 'shutting down, database unreachable or migrations pending' })
  async ready(): Promise<{ status: 'ok'; database: 'up'; migrations: 'applied' }> {
    if (this.shutdown.isDraining) throw new DomainError('service_unavailable', 'The server is shutting down', { shutting_down: true }, 5);
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
