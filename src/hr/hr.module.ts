// Signed HR events (leavers and movers) from the HR system.
import { Module, type DynamicModule } from '@nestjs/common';
import type { Client } from '@temporalio/client';
import { IdentityService } from '../identity/identity.service';
import type { Services } from '../services';
import { HrController } from './hr.controller';
import { HrService } from './hr.service';

@Module({})
export class HrModule {
  static forRoot(services: Services, temporal: Client): DynamicModule {
    const identity = IdentityService.from(services, temporal);
    return {
      module: HrModule,
      controllers: [HrController],
      providers: [{ provide: HrService, useValue: new HrService(services.db, services.config.hrWebhookSecrets, identity) }],
    };
  }
}
