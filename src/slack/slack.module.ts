// Slack approvals in the API: the Bolt app behind POST /slack/events (absent when Slack is not configured).
import { Module, type DynamicModule } from '@nestjs/common';
import type { ApprovalAnswers } from './approval-answers';
import { createSlackSurface, type SlackServices } from './slack-app';
import { SLACK_SURFACE, SlackController } from './slack.controller';

@Module({})
export class SlackModule {
  static forRoot(services: SlackServices, answers: ApprovalAnswers, opts: { now?: () => number } = {}): DynamicModule {
    const surface = createSlackSurface(services, answers, opts);
    if (!surface) return { module: SlackModule };
    return { module: SlackModule, controllers: [SlackController], providers: [{ provide: SLACK_SURFACE, useValue: surface }] };
  }
}
