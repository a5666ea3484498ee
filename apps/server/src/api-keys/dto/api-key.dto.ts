import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsISO8601, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { ROLE_NAME_PATTERN } from '../../roles/dto/role.dto';

export class CreateApiKeyDto {
  @ApiProperty({ example: 'build-worker-1', description: 'A label for people; need not be unique' })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  name: string;

  @ApiProperty({ type: [String], example: ['agent'], description: 'Together they may not grant more than you hold' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(32)
  @Matches(ROLE_NAME_PATTERN, { each: true, message: 'each role must be a role name' })
  roles: string[];

  @ApiPropertyOptional({
    example: '2031-01-01T00:00:00Z',
    description: 'ISO-8601 with a time zone, in the future; omitted means the key does not expire',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  @Matches(/(Z|[+-]\d{2}(:?\d{2})?)$/i, { message: 'expires_at must carry a time zone (Z or ±hh:mm)' })
  expires_at?: string;
}

export class CreatedApiKeyDto {
  @ApiProperty() id: string;
  @ApiProperty() name: string;
  @ApiProperty({ description: 'The secret. Send it as `Authorization: Bearer <key>`. It is shown only in this response.' })
  key: string;
  @ApiProperty({ description: 'The public part of the key, shown in lists' }) prefix: string;
  @ApiProperty({ type: [String] }) roles: string[];
  @ApiProperty({ nullable: true, type: String }) expires_at: string | null;
  @ApiProperty() created_at: string;
}

export class ApiKeyDto {
  @ApiProperty() id: string;
  @ApiProperty() name: string;
  @ApiProperty() prefix: string;
  @ApiProperty({ type: [String] }) roles: string[];
  @ApiProperty({ description: 'The id of the user who created the key' }) created_by: string;
  @ApiProperty({ nullable: true, type: String }) expires_at: string | null;
  @ApiProperty({ nullable: true, type: String }) revoked_at: string | null;
  @ApiProperty({ nullable: true, type: String }) last_used_at: string | null;
  @ApiProperty() created_at: string;
}

export class ApiKeyListDto {
  @ApiProperty({ type: [ApiKeyDto] }) api_keys: ApiKeyDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}
