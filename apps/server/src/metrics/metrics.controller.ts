import { Controller, Get, Header, Headers, Res } from '@nestjs/common';
import { ApiOkResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Response } from 'express';
import { createHash,timingSafeEqual } from 'node:crypto';
import { Public } from '../access/decorators';
import { unauthenticated } from '../common/errors';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { MetricsCollector } from './metrics.collector';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

@ApiTags('metrics')
@Controller('metrics')
export class MetricsController {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly collector: MetricsCollector,
  ) {}

  /** Prometheus text exposition. Open, unless METRICS_TOKEN is set: then `Authorization: Bearer <METRICS_TOKEN>`. */
  @Get()
  @Public()
  @Header('Cache-Control', 'no-store')
  @ApiOkResponse({ description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } })
  @ApiUnauthorizedResponse({ description: 'METRICS_TOKEN is set and the bearer token does not match' })
  async scrape(@Res({ passthrough: true }) res: Response, @Headers('authorization') authorization?: string): Promise<string> {
    const token = this.config.metricsToken;
    if (token !== undefined) {
      const given = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1] ?? '';
      if (!timingSafeEqual(digest(given), digest(token))) throw unauthenticated('A valid metrics token is required');
    }
    const text = await this.collector.render();
    res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    return text;
  }
}
