import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../access/decorators';
import { Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { ListQueryDto } from '../common/list-query.dto';
import { CreateRoleDto, RoleDto, RoleListDto, UpdateRoleDto } from './dto/role.dto';
import { RolesService } from './roles.service';

@ApiTags('roles')
@ApiBearerAuth()
@Controller('roles')
export class RolesController {
  constructor(private readonly roles: RolesService) {}

  @RequirePermission(Permission.RolesRead)
  @Get()
  @ApiOperation({ summary: 'List roles by name' })
  @ApiOkResponse({ type: RoleListDto })
  list(@Query() query: ListQueryDto): Promise<RoleListDto> {
    return this.roles.list(query);
  }

  @RequirePermission(Permission.RolesWrite)
  @Post()
  @ApiOperation({
    summary: 'Create a custom role',
    description: '409 already_exists for a taken name; 403 when it would grant a permission you do not hold yourself.',
  })
  @ApiCreatedResponse({ type: RoleDto })
  create(@CurrentPrincipal() principal: Principal, @Body() body: CreateRoleDto): Promise<RoleDto> {
    return this.roles.create(principal, body);
  }

  @RequirePermission(Permission.RolesRead)
  @Get(':name')
  @ApiOkResponse({ type: RoleDto })
  get(@Param('name') name: string): Promise<RoleDto> {
    return this.roles.get(name);
  }

  @RequirePermission(Permission.RolesWrite)
  @Patch(':name')
  @ApiOperation({
    summary: 'Change a role’s description or permissions',
    description:
      'Takes effect on the next request of everyone holding the role. 409 conflict when it would empty a built-in role ' +
      'or take `*` from admin; 403 when it would add a permission you do not hold yourself.',
  })
  @ApiOkResponse({ type: RoleDto })
  update(
    @CurrentPrincipal() principal: Principal,
    @Param('name') name: string,
    @Body() body: UpdateRoleDto,
  ): Promise<RoleDto> {
    return this.roles.update(principal, name, body);
  }

  @RequirePermission(Permission.RolesWrite)
  @Delete(':name')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Delete a custom role',
    description:
      '409 conflict for a built-in role; 409 in_use, with details {users, api_keys}, while users or live API keys hold it ' +
      '(revoked and expired keys do not count and lose the role).',
  })
  @ApiNoContentResponse()
  remove(@CurrentPrincipal() principal: Principal, @Param('name') name: string): Promise<void> {
    return this.roles.remove(principal, name);
  }
}
