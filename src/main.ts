// The NestJS API on Fastify. `node dist/src/main.js` runs an API replica on its own
// (TEMPORAL_ADDRESS and DATABASE_URL required); `npm start` runs everything in one process.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Client } from '@temporalio/client';
import { AppModule } from './app.module';
import { useCheapAsyncResourceBind } from './http/async-resource-bind';
import { Problem, problemBody, TITLES } from './http/problem';
import { registerScimHttp } from './scim/scim-http';
import type { Services } from './services';

export async function createApi(services: Services, temporal: Client): Promise<NestFastifyApplication> {
  useCheapAsyncResourceBind();
  const adapter = new FastifyAdapter({
    bodyLimit: 1024 * 1024,
    // Correlation id: the caller's, when it sends a sane one; echoed on every response.
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-correlation-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    // What Node's HTTP parser refuses before any route (a URL or headers too large, a malformed
    // request line) is answered as problem+json too, not in Fastify's own error format.
    clientErrorHandler: (err: Error & { code?: string }, socket: import('node:net').Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return; // nobody to answer
      const [status, code, detail] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'headers_too_large', 'The URL or the headers are too large.']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'request_timeout', 'The request did not arrive in time.']
            : [400, 'malformed_request', 'The request is not valid HTTP.'];
      const body = JSON.stringify(problemBody(status, code, detail));
      if (socket.writable) socket.write(`HTTP/1.1 ${status} ${TITLES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      socket.destroy(err);
    },
  });
  adapter.getInstance().addHook('onSend', async (req, reply) => {
    void reply.header('x-correlation-id', req.id);
  });
  // A compressed body would be read as if it were not: refused instead (the signatures of the
  // signed surfaces cover the bytes as sent, and no client here needs compression).
  adapter.getInstance().addHook('onRequest', async (req) => {
    const encoding = req.headers['content-encoding'];
    if (encoding && encoding.toLowerCase() !== 'identity') throw new Problem(415, 'unsupported_media_type', `Content-Encoding ${encoding} is not supported: send the body uncompressed.`);
  });
  // A POST with no body (e.g. /end, curl -X POST with a JSON content-type) is no body, not bad JSON.
  adapter.getInstance().addHook('onRequest', async (req) => {
    const length = req.headers['content-length'];
    if ((length === '0' || (length === undefined && !req.headers['transfer-encoding'])) && req.headers['content-type']) delete req.headers['content-type'];
  });
  // A write answered here (an HR event's 202, a SCIM PATCH, an ended task) is seen by this
  // replica's very next call, even when another process made the change: wait for the projection
  // to have applied every change committed so far. Tool calls skip it: they are the hot path.
  adapter.getInstance().addHook('onSend', async (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && !req.url.includes('/tool-calls')) await services.projection.barrier();
  });
  registerScimHttp(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(services, temporal), adapter, {
    logger: services.config.logLevel === 'silent' ? false : ['error', 'warn'],
    // Signed surfaces (Slack) verify the body exactly as sent: keep it as req.rawBody.
    rawBody: true,
  });
  app.enableShutdownHooks();
  await app.init();
  return app;
}

async function main(): Promise<void> {
  const { loadConfig } = await import('./config/config');
  const { createServices } = await import('./services');
  const { connectClient } = await import('./temporal/temporal-client');
  const config = loadConfig();
  if (!config.temporal.address) throw new Error('TEMPORAL_ADDRESS=: required to run an API replica on its own (npm start runs a dev server)');
  if (!config.databaseUrl) throw new Error('DATABASE_URL=: required to run an API replica on its own (PGlite is one process only)');
  const services = await createServices(config);
  const temporal = await connectClient(config.temporal.address, config.temporal.namespace);
  const app = await createApi(services, temporal);
  await app.listen(config.port, config.host);
  console.log(`API listening on http://${config.host}:${config.port}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
