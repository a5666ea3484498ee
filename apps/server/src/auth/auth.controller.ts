import { Body, Controller, Get, Header, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated, CurrentPrincipal, Public } from '../access/decorators';
import type { Principal } from '../access/principal';
import { AuthService } from './auth.service';
import { LoginDto, MeDto, RefreshDto, TokenPairDto } from './dto/login.dto';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Public()
  @Post('login')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiOkResponse({ type: TokenPairDto })
  login(@Body() body: LoginDto): Promise<TokenPairDto> {
    return this.auth.login(body.username, body.password);
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @ApiOkResponse({ type: TokenPairDto })
  refresh(@Body() body: RefreshDto): Promise<TokenPairDto> {
    return this.auth.refresh(body.refresh_token);
  }

  @Authenticated()
  @Post('logout')
  @HttpCode(204)
  @ApiBearerAuth()
  logout(@CurrentPrincipal() principal: Principal, @Body() body: RefreshDto): Promise<void> {
    return this.auth.logout(principal, body.refresh_token);
  }

  @Authenticated()
  @Get('me')
  @Header('Cache-Control', 'no-store')
  @ApiBearerAuth()
  @ApiOkResponse({ type: MeDto })
  me(@CurrentPrincipal() principal: Principal): Promise<MeDto> {
    return this.auth.me(principal);
  }
}
