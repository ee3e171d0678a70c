// The one exception filter of the JSON API: every error leaves as problem+json, a 500 never
// leaks internals, and every response echoes the correlation id.
import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Problem, problemBody } from './problem';

@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly log = new Logger('http');

  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const req = http.getRequest<FastifyRequest>();
    let body: ReturnType<typeof problemBody>;
    if (err instanceof Problem) body = problemBody(err.status, err.code, err.detail, err.extra);
    else if (err instanceof HttpException) {
      const status = err.getStatus();
      body = problemBody(status, status === 404 ? 'not_found' : 'http_error', status === 404 ? `No route ${req.method} ${req.url.split('?')[0]}` : err.message);
    } else if (isFastifyClientError(err)) {
      body = problemBody(err.statusCode, err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : 'malformed_request', err.message);
    } else {
      this.log.error({ err, correlationId: req.id }, 'unhandled error');
      body = problemBody(500, 'internal_error', 'Something went wrong; the correlation id identifies this request in our logs.');
    }
    void reply.status(body.status).header('content-type', 'application/problem+json').send(body);
  }
}

function isFastifyClientError(err: unknown): err is { statusCode: number; code: string; message: string } {
  const e = err as { statusCode?: unknown };
  return typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500;
}
