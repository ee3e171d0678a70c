// The SCIM 2.0 service provider (/scim/v2): people, groups, agents and agentic applications from the IdP.
import { Module, type DynamicModule } from '@nestjs/common';
import type { Client } from '@temporalio/client';
import { IdentityService } from '../identity/identity.service';
import type { Services } from '../services';
import { AgentsService, ApplicationsService } from './agents.service';
import type { ScimEndpoint } from './endpoint';
import { GroupsService } from './groups.service';
import { SCIM_ENDPOINTS, ScimController } from './scim.controller';
import { UsersService } from './users.service';

@Module({})
export class ScimModule {
  static forRoot(services: Services, temporal: Client): DynamicModule {
    const identity = IdentityService.from(services, temporal);
    const endpoints: Record<string, ScimEndpoint> = {
      Users: new UsersService(services.db, identity),
      Groups: new GroupsService(services.db, identity),
      Agents: new AgentsService(services.db),
      AgenticApplications: new ApplicationsService(services.db),
    };
    return { module: ScimModule, controllers: [ScimController], providers: [{ provide: SCIM_ENDPOINTS, useValue: endpoints }] };
  }
}
