import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { Roles } from '../auth/auth.guard';
import { validate } from '../http/validate';
import { TasksService } from './tasks.service';

const id = z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -');

const startTask = z.strictObject({
  taskId: id.optional(),
  userId: id,
  agentId: id,
  purpose: z.string().max(1000).optional(),
  ttlSeconds: z.number().int().min(1).max(30 * 86400).optional(),
});

const toolCall = z.strictObject({
  callId: id,
  toolId: z.string().min(1).max(200),
  arguments: z.record(z.string(), z.unknown()).optional(),
});

const revokeBody = z.strictObject({ reason: z.string().min(3).max(500) });

const toolCallQuery = z.object({ waitSeconds: z.coerce.number().int().min(0).max(300).default(0) });

@Controller('v1/tasks')
@Roles('gateway')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  @Post()
  async start(@Body() body: unknown, @Res({ passthrough: true }) reply: FastifyReply) {
    const { task, created } = await this.tasks.start(validate(startTask, body));
    void reply.status(created ? 201 : 200);
    return { taskId: task.taskId, status: task.status, userId: task.userId, agentId: task.agentId, expiresAt: task.expiresAt };
  }

  @Get(':taskId')
  get(@Param('taskId') taskId: string) {
    return this.tasks.get(taskId);
  }

  @Post(':taskId/tool-calls')
  async toolCall(
    @Param('taskId') taskId: string,
    @Body() body: unknown,
    @Query() query: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const call = validate(toolCall, body);
    const { waitSeconds } = validate(toolCallQuery, query, 'query');
    const result = await this.tasks.toolCall(taskId, call, waitSeconds);
    void reply.status(result.decision === 'pending' ? 202 : 200);
    return result;
  }

  @Get(':taskId/tool-calls/:callId')
  toolCallResult(@Param('taskId') taskId: string, @Param('callId') callId: string) {
    return this.tasks.toolCallResult(taskId, callId);
  }

  @Post(':taskId/end')
  @HttpCode(200)
  end(@Param('taskId') taskId: string) {
    return this.tasks.end(taskId);
  }

  /** The admin kill switch: collapse now, with a reason that goes into the trace. */
  @Post(':taskId/revoke')
  @Roles('admin')
  @HttpCode(200)
  revoke(@Param('taskId') taskId: string, @Body() body: unknown) {
    const { reason } = validate(revokeBody, body);
    return this.tasks.end(taskId, { status: 'revoked', reason, by: 'admin' });
  }
}
