import { Controller, Delete, Get, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Authenticated, CurrentPrincipal } from '../access/decorators';
import type { Principal } from '../access/principal';
import { McpHttpAdapter } from './mcp-http.adapter';

/**
 * POST/GET/DELETE /mcp: the Model Context Protocol over Streamable HTTP. Any authenticated caller
 * may connect; each tool then needs the same permission as its REST twin. The transport writes
 * the response itself (the one controller that hands req/res on, via McpHttpAdapter).
 */
@ApiExcludeController()
@ApiBearerAuth()
@Controller('mcp')
export class McpController {
  constructor(private readonly adapter: McpHttpAdapter) {}

  @Authenticated()
  @Post()
  post(@CurrentPrincipal() principal: Principal, @Req() req: Request, @Res() res: Response): Promise<void> {
    return this.adapter.post(principal, req, res);
  }

  @Authenticated()
  @Get()
  get(@CurrentPrincipal() principal: Principal, @Req() req: Request, @Res() res: Response): Promise<void> {
    return this.adapter.get(principal, req, res);
  }

  @Authenticated()
  @Delete()
  delete(@CurrentPrincipal() principal: Principal, @Req() req: Request, @Res() res: Response): Promise<void> {
    return this.adapter.delete(principal, req, res);
  }
}
