// POST /slack/events: Slack's interactivity and Events API. No bearer token (no @Roles): the
// receiver checks Slack's request signature over the raw body instead.
import { Controller, Inject, Post, Req, Res, type RawBodyRequest } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SlackSurface } from './slack-app';

export const SLACK_SURFACE = Symbol('SLACK_SURFACE');

@Controller('slack')
export class SlackController {
  constructor(@Inject(SLACK_SURFACE) private readonly slack: SlackSurface) {}

  @Post('events')
  async events(@Req() req: RawBodyRequest<FastifyRequest>, @Res() reply: FastifyReply): Promise<void> {
    // Without the raw body (rawBody: true on the Nest app) nothing can be verified: the receiver answers 401.
    const res = await this.slack.handleHttp({ rawBody: req.rawBody?.toString('utf8') ?? '', headers: req.headers });
    await reply.status(res.status).headers(res.headers).send(res.body);
  }
}
