import { Body, Controller, Delete, Get, Header, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../access/decorators';
import { Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { ListQueryDto } from '../common/list-query.dto';
import { UuidParam } from '../common/uuid-param';
import { ApiKeysService } from './api-keys.service';
import { ApiKeyListDto, CreateApiKeyDto, CreatedApiKeyDto } from './dto/api-key.dto';

@ApiTags('api-keys')
@ApiBearerAuth()
@Controller('api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @RequirePermission(Permission.ApiKeysRead)
  @Get()
  @ApiOperation({
    summary: 'List API keys (never their secrets)',
    description: 'Admins (holders of `*`) see every key; anyone else sees only the keys they created.',
  })
  @ApiOkResponse({ type: ApiKeyListDto })
  list(@CurrentPrincipal() principal: Principal, @Query() query: ListQueryDto): Promise<ApiKeyListDto> {
    return this.keys.list(principal, query);
  }

  @RequirePermission(Permission.ApiKeysWrite)
  @Post()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Create an API key; the secret is returned once',
    description:
      'The response carries the secret `key`; it is stored only as a hash and never shown again. ' +
      'The union of the roles’ permissions must be within your own (else 403 forbidden, details.excess_permissions). ' +
      'Only a signed-in user can create keys: an API key cannot create further API keys (403). ' +
      'Unknown roles and an `expires_at` that is not in the future are 400 validation_failed.',
  })
  @ApiCreatedResponse({ type: CreatedApiKeyDto })
  create(@CurrentPrincipal() principal: Principal, @Body() body: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    return this.keys.create(principal, body);
  }

  @RequirePermission(Permission.ApiKeysWrite)
  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Revoke an API key',
    description: 'The key stops working on its next request. Admins may revoke any key, anyone else only their own (404 otherwise).',
  })
  @ApiNoContentResponse()
  revoke(@CurrentPrincipal() principal: Principal, @UuidParam() id: string): Promise<void> {
    return this.keys.revoke(principal, id);
  }
}
