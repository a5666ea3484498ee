import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal } from '../access/decorators';
import type { Principal } from '../access/principal';
import { EventListDto, ReplayQueryDto } from './dto/events.dto';
import { EventsQueryService } from './events-query.service';

@ApiTags('events')
@ApiBearerAuth()
@Controller('events')
export class EventsController {
  constructor(private readonly events: EventsQueryService) {}

  /** Needs events:read (all events you may read) or agents:act (events about your own agents). */
  @Authenticated()
  @Get()
  @ApiOkResponse({ type: EventListDto })
  replay(@CurrentPrincipal() principal: Principal, @Query() query: ReplayQueryDto): Promise<EventListDto> {
    return this.events.replay(principal, query.after, query.limit);
  }
}
