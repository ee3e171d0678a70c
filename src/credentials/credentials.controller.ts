import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { z } from 'zod';
import { Roles } from '../auth/auth.guard';
import { Problem } from '../http/problem';
import { validate } from '../http/validate';
import type { Services } from '../services';
import { SERVICES } from '../tokens';

const resolveBody = z.strictObject({
  credentialRef: z.string().min(1).max(200),
  /** The tool the gateway is about to call; a reference bound to another tool resolves to nothing. */
  toolId: z.string().min(1).max(200).optional(),
});

@Controller('v1/credentials')
@Roles('gateway')
export class CredentialsController {
  constructor(@Inject(SERVICES) private readonly s: Services) {}

  @Post('resolve')
  @HttpCode(200)
  async resolve(@Body() body: unknown) {
    const req = validate(resolveBody, body);
    const result = await this.s.credentials.resolve(req.credentialRef, req.toolId);
    if ('status' in result) throw new Problem(result.status, result.code, result.message);
    return result;
  }
}
