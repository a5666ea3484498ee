import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

export const ROLE_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;

const PERMISSIONS_DESCRIPTION =
  '`resource:action` strings (e.g. `tasks:read`), `resource:*` for every action on a resource, or `*` for everything. ' +
  'You cannot grant a permission you do not hold yourself.';

export class CreateRoleDto {
  @ApiProperty({ example: 'auditor', description: 'Lower-case letters, digits, _ and -; starts with a letter; at most 64' })
  @IsString()
  @Matches(ROLE_NAME_PATTERN, { message: 'name must be 1-64 lower-case letters, digits, _ or - and start with a letter' })
  name: string;

  @ApiPropertyOptional({ example: 'Reads the audit trail', default: '' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ type: [String], example: ['audit:read'], default: [], description: PERMISSIONS_DESCRIPTION })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  permissions?: string[];
}

/** The name is the role's key and cannot change. */
export class UpdateRoleDto {
  @ApiPropertyOptional({ example: 'Reads the audit trail' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({
    type: [String],
    example: ['audit:read', 'events:read'],
    description: `${PERMISSIONS_DESCRIPTION} Replaces the whole list. A built-in role cannot be emptied, and the admin role keeps \`*\`.`,
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  permissions?: string[];
}

export class RoleDto {
  @ApiProperty() name: string;
  @ApiProperty() description: string;
  @ApiProperty({ type: [String] }) permissions: string[];
  @ApiProperty({ description: 'admin, operator, viewer and agent are built in: they cannot be deleted or emptied' })
  built_in: boolean;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class RoleListDto {
  @ApiProperty({ type: [RoleDto] }) roles: RoleDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}
