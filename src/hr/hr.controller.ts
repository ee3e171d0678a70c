// POST /v1/hr/events: no bearer token (no @Roles); the Standard Webhooks signature over the raw body instead.
import { Controller, HttpCode, Inject, Post, Req, type RawBodyRequest } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { HrService } from './hr.service';

@Controller('v1/hr')
export class HrController {
  constructor(@Inject(HrService) private readonly hr: HrService) {}

  @Post('events')
  @HttpCode(202)
  events(@Req() req: RawBodyRequest<FastifyRequest>) {
    // Without the raw body (rawBody: true on the Nest app) nothing verifies: 401.
    return this.hr.receive(req.rawBody?.toString('utf8') ?? '', req.headers);
  }
}
