import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsBoolean, IsEmail, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { ListQueryDto } from '../../common/list-query.dto';
import { ROLE_NAME_PATTERN } from '../../roles/dto/role.dto';

export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export class CreateUserDto {
  @ApiProperty({ example: 'ann', description: 'Letters, digits and . _ @ -; stored lower-case' })
  @IsString()
  @Matches(USERNAME_PATTERN, { message: 'username must be 1-64 letters, digits, or . _ @ - and start with a letter or digit' })
  username: string;

  @ApiPropertyOptional({ example: 'ann@example.com' })
  @IsOptional()
  @IsEmail()
  @MaxLength(254)
  email?: string;

  @ApiProperty({ format: 'password', minLength: 8 })
  @IsString()
  @MinLength(8)
  @MaxLength(1024)
  password: string;

  @ApiPropertyOptional({ type: [String], example: ['operator'], default: ['viewer'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @Matches(ROLE_NAME_PATTERN, { each: true, message: 'each role must be a role name' })
  roles?: string[];

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  disabled?: boolean;
}

export class UpdateUserDto extends PartialType(CreateUserDto) {}

export class ListUsersQueryDto extends ListQueryDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(64)
  username?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(ROLE_NAME_PATTERN)
  role?: string;
}

export class UserDto {
  @ApiProperty() id: string;
  @ApiProperty() username: string;
  @ApiProperty({ nullable: true, type: String }) email: string | null;
  @ApiProperty({ type: [String] }) roles: string[];
  @ApiProperty() disabled: boolean;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class UserListDto {
  @ApiProperty({ type: [UserDto] }) users: UserDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}
