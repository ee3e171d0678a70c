import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { Client } from '@temporalio/client';
import type { FastifyReply } from 'fastify';
import { SERVICES, TEMPORAL_CLIENT } from '../tokens';
import type { Services } from '../services';
import { Metrics } from './metrics';

@Controller()
export class HealthController {
  constructor(
    @Inject(SERVICES) private readonly s: Services,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    private readonly metrics: Metrics,
  ) {}

  @Get('healthz')
  healthz() {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res({ passthrough: true }) reply: FastifyReply) {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), 2000);
        return 'ok';
      } catch (err) {
        return `unreachable: ${err instanceof Error ? err.message : String(err)}`;
      }
    };
    const [database, temporal] = await Promise.all([
      check(() => this.s.db.query('select 1')),
      check(() => this.temporal.workflowService.getSystemInfo({})),
    ]);
    const ok = database === 'ok' && temporal === 'ok';
    void reply.status(ok ? 200 : 503);
    return { status: ok ? 'ready' : 'not_ready', checks: { database, temporal } };
  }

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4')
  metricsText() {
    return this.metrics.registry.metrics();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms).unref())]);
}
