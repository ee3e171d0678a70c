// The apps and tools of the active governance bundle (the bundle in version control is the source).
import { Controller, Get, Inject } from '@nestjs/common';
import { Roles } from '../auth/auth.guard';
import type { Services } from '../services';
import { SERVICES } from '../tokens';

@Controller('v1')
@Roles('admin')
export class RegistryController {
  constructor(@Inject(SERVICES) private readonly s: Services) {}

  @Get('apps')
  apps() {
    const p = this.s.policy.active();
    return { policyVersion: p.version, apps: p.bundle.apps };
  }

  @Get('tools')
  tools() {
    const p = this.s.policy.active();
    return { policyVersion: p.version, tools: p.bundle.tools };
  }
}
