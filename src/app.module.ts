// The API's root module, built around the services of the process (composition root: main/start).
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import type { Client } from '@temporalio/client';
import { AUTH_TOKENS, AuthGuard } from './auth/auth.guard';
import { TracesController } from './audit/traces.controller';
import { CredentialsController } from './credentials/credentials.controller';
import { HealthController } from './health/health.controller';
import { HrModule } from './hr/hr.module';
import { PolicyController } from './policy/policy.controller';
import { RegistryController } from './registry/registry.controller';
import { Metrics } from './health/metrics';
import { ProblemFilter } from './http/problem.filter';
import { InputLimitsPipe } from './http/input-limits';
import { ScimModule } from './scim/scim.module';
import type { Services } from './services';
import { SlackModule } from './slack/slack.module';
import { temporalApprovalAnswers } from './slack/approval-answers';
import { TasksController } from './tasks/tasks.controller';
import { TasksService } from './tasks/tasks.service';
import { SERVICES, TEMPORAL_CLIENT } from './tokens';

@Module({})
export class AppModule {
  static forRoot(services: Services, temporal: Client): DynamicModule {
    const metrics = services.metrics;
    return {
      module: AppModule,
      imports: [SlackModule.forRoot(services, temporalApprovalAnswers(temporal)), ScimModule.forRoot(services, temporal), HrModule.forRoot(services, temporal)],
      controllers: [HealthController, TasksController, PolicyController, RegistryController, CredentialsController, TracesController],
      providers: [
        { provide: SERVICES, useValue: services },
        { provide: TEMPORAL_CLIENT, useValue: temporal },
        { provide: AUTH_TOKENS, useValue: services.config.tokens },
        { provide: Metrics, useValue: metrics },
        { provide: TasksService, useFactory: () => new TasksService(services, temporal, metrics) },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: APP_PIPE, useClass: InputLimitsPipe },
      ],
    };
  }
}
