// The Decision Trace for auditors: SCIM-filtered queries, single records, chain verification.
import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { z } from 'zod';
import { Roles } from '../auth/auth.guard';
import { FilterError } from '../db/filter-sql';
import { Problem } from '../http/problem';
import { validate } from '../http/validate';
import type { Services } from '../services';
import { SERVICES } from '../tokens';

const listQuery = z.object({
  filter: z.string().max(4000).optional(),
  startIndex: z.coerce.number().int().min(1).default(1),
  count: z.coerce.number().int().min(0).max(1000).default(100),
});

@Controller('v1/traces')
@Roles('admin')
export class TracesController {
  constructor(@Inject(SERVICES) private readonly s: Services) {}

  @Get()
  async list(@Query() query: unknown) {
    const q = validate(listQuery, query, 'query');
    try {
      return await this.s.traces.query(q);
    } catch (err) {
      if (err instanceof FilterError) throw new Problem(400, 'invalid_filter', err.message);
      throw err;
    }
  }

  @Get('verify')
  verify() {
    return this.s.traces.verifyWithCheckpoints(this.s.checkpoints);
  }

  @Get(':traceId')
  async get(@Param('traceId') traceId: string) {
    const record = await this.s.traces.get(traceId);
    if (!record) throw new Problem(404, 'trace_not_found', `No trace ${traceId}.`);
    return record;
  }
}
