import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min, ValidateBy } from 'class-validator';
import { isInt8Text } from '../../common/input-guard';

export class ReplayQueryDto {
  @ApiPropertyOptional({ description: 'Return events with a seq greater than this', default: '0', example: '1041' })
  @IsOptional()
  // events.seq is a bigint: a larger number would be a 500 from PostgreSQL.
  @ValidateBy({ name: 'isInt8Text', validator: { validate: isInt8Text, defaultMessage: () => 'after must be a whole number from 0 to 9223372036854775807' } })
  after: string = '0';

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit: number = 100;
}

export class EventListDto {
  @ApiProperty({ type: 'array', items: { type: 'object', additionalProperties: true }, description: 'Events as sent over Socket.IO, oldest first' })
  events: Record<string, unknown>[];

  @ApiProperty({ nullable: true, type: String, description: 'Pass as `after` to continue; null when you are up to date' })
  next_cursor: string | null;
}
