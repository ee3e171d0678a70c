import { Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { Roles } from '../auth/auth.guard';
import { Problem } from '../http/problem';
import { validate } from '../http/validate';
import type { Services } from '../services';
import { IdentityService } from '../identity/identity.service';
import { SERVICES, TEMPORAL_CLIENT } from '../tokens';
import { BundleInvalidError } from './compile';
import { emptySession } from './session';

const evaluateBody = z.strictObject({
  userId: z.string().min(1),
  agentId: z.string().min(1),
  toolId: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).optional(),
  taskId: z.string().min(1).optional(),
});

@Controller('v1/policy')
@Roles('admin')
export class PolicyController {
  constructor(
    @Inject(SERVICES) private readonly s: Services,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
  ) {}

  @Get()
  get() {
    const p = this.s.policy.active();
    return { version: p.version, rules: p.bundle.rules, routes: p.bundle.routes };
  }

  /** A dry run with an explanation of every rule; no side effects, no trace. */
  @Post('evaluate')
  @HttpCode(200)
  async evaluate(@Body() body: unknown) {
    const req = validate(evaluateBody, body);
    const [user, agent] = await Promise.all([this.s.directory.user(req.userId), this.s.directory.agent(req.agentId)]);
    if (!user) throw new Problem(422, 'user_unknown', `No person ${req.userId} in the directory.`);
    if (!agent) throw new Problem(422, 'agent_unknown', `No agent ${req.agentId} in the directory.`);
    const task = req.taskId ? await this.s.tasks.get(req.taskId) : undefined;
    if (req.taskId && !task) throw new Problem(404, 'task_not_found', `No task ${req.taskId}.`);
    const p = this.s.policy.active();
    const result = p.explain({
      user,
      agent,
      toolId: req.toolId,
      args: req.arguments,
      session: task?.session ?? emptySession(),
      taskId: req.taskId,
      time: new Date().toISOString(),
    });
    return {
      decision: result.decision,
      reason: result.reason,
      policyVersion: result.policyVersion,
      matched: result.rules,
      shadowDecision: result.shadowDecision,
      rules: result.explanation,
    };
  }

  @Post('reload')
  @HttpCode(200)
  async reload() {
    try {
      const compiled = await this.s.policy.reload();
      // Live grants the new version denies are revoked, and their JIT access removed, as after a move.
      const reevaluation = await IdentityService.from(this.s, this.temporal).policyChanged(compiled.version);
      return { version: compiled.version, rules: compiled.bundle.rules.length, reevaluation };
    } catch (err) {
      if (err instanceof BundleInvalidError) {
        throw new Problem(422, 'bundle_invalid', `The bundle has ${err.errors.length} error(s); version ${this.s.policy.active().version} stays active.`, {
          errors: err.errors,
        });
      }
      throw err;
    }
  }
}
