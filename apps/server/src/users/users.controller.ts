import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../access/decorators';
import { Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { UuidParam } from '../common/uuid-param';
import { CreateUserDto, ListUsersQueryDto, UpdateUserDto, UserDto, UserListDto } from './dto/user.dto';
import { UsersService } from './users.service';

@ApiTags('users')
@ApiBearerAuth()
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @RequirePermission(Permission.UsersRead)
  @Get()
  @ApiOkResponse({ type: UserListDto })
  list(@Query() query: ListUsersQueryDto): Promise<UserListDto> {
    return this.users.list(query);
  }

  @RequirePermission(Permission.UsersWrite)
  @Post()
  @ApiCreatedResponse({ type: UserDto })
  create(@CurrentPrincipal() principal: Principal, @Body() body: CreateUserDto): Promise<UserDto> {
    return this.users.create(principal, body);
  }

  @RequirePermission(Permission.UsersRead)
  @Get(':id')
  @ApiOkResponse({ type: UserDto })
  get(@UuidParam() id: string): Promise<UserDto> {
    return this.users.get(id);
  }

  @RequirePermission(Permission.UsersWrite)
  @Patch(':id')
  @ApiOkResponse({ type: UserDto })
  update(
    @CurrentPrincipal() principal: Principal,
    @UuidParam() id: string,
    @Body() body: UpdateUserDto,
  ): Promise<UserDto> {
    return this.users.update(principal, id, body);
  }

  @RequirePermission(Permission.UsersWrite)
  @Delete(':id')
  @HttpCode(204)
  remove(@CurrentPrincipal() principal: Principal, @UuidParam() id: string): Promise<void> {
    return this.users.remove(principal, id);
  }
}
