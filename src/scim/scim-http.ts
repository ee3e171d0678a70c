// SCIM's HTTP surface: every error under /scim/v2 leaves as a SCIM error (RFC 7644 §3.12) with
// content type application/scim+json — those the controller raises (including the auth guard's
// 401/403), and those Fastify raises before it (an unparsable body, an unsupported media type).
import {
  Catch,
  HttpException,
  Injectable,
  Logger,
  type ArgumentsHost,
  type CallHandler,
  type ExceptionFilter,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Observable } from 'rxjs';
import { FilterError } from '../db/filter-sql';
import { Problem } from '../http/problem';
import { SCIM_CONTENT_TYPE, ScimError, scimErrorBody, type ScimErrorBody } from './scim-error';

export const SCIM_PREFIX = '/scim/v2';

const log = new Logger('scim');

export function toScimError(err: unknown, correlationId?: string): ScimErrorBody {
  if (err instanceof ScimError) return scimErrorBody(err.status, err.detail, err.scimType);
  if (err instanceof FilterError) return scimErrorBody(400, err.message, 'invalidFilter');
  if (err instanceof Problem) return scimErrorBody(err.status, err.detail, err.status === 400 ? 'invalidValue' : undefined);
  if (err instanceof HttpException) return scimErrorBody(err.getStatus(), err.message);
  const client = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof client?.statusCode === 'number' && client.statusCode >= 400 && client.statusCode < 500) {
    // Fastify's own: a body that is not JSON, an empty body, a media type it does not parse.
    return scimErrorBody(client.statusCode, String(client.message), client.statusCode === 400 ? 'invalidSyntax' : undefined);
  }
  log.error({ err, correlationId }, 'unhandled SCIM error');
  return scimErrorBody(500, 'Something went wrong; the correlation id identifies this request in our logs.');
}

/** Scoped to the SCIM controller: takes precedence over the app's problem+json filter. */
@Catch()
export class ScimExceptionFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const body = toScimError(err, http.getRequest<FastifyRequest>().id);
    void reply.status(Number(body.status)).header('content-type', SCIM_CONTENT_TYPE).send(body);
  }
}

/** SCIM responses are application/scim+json. */
@Injectable()
export class ScimContentType implements NestInterceptor {
  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    void ctx.switchToHttp().getResponse<FastifyReply>().header('content-type', SCIM_CONTENT_TYPE);
    return next.handle();
  }
}

/**
 * On the Fastify instance, before Nest registers its routes: parse application/scim+json bodies
 * as JSON, and give /scim/v2 routes an error handler of their own for what fails before Nest's
 * filters run (body parsing).
 */
export function registerScimHttp(fastify: FastifyInstance): void {
  const json = fastify.getDefaultJsonParser('error', 'error');
  // An empty body (a DELETE that names the media type anyway) is no body, not a syntax error.
  fastify.addContentTypeParser('application/scim+json', { parseAs: 'string' }, (req, body, done) => (body === '' ? done(null, undefined) : json(req, body as string, done)));
  fastify.addHook('onRoute', (route) => {
    if (!route.url?.startsWith(SCIM_PREFIX)) return;
    route.errorHandler = (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
      const body = toScimError(err, req.id);
      void reply.status(Number(body.status)).header('content-type', SCIM_CONTENT_TYPE).send(body);
    };
  });
}
