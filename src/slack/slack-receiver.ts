// Bolt's receiver for our own HTTP server (NestJS on Fastify): checks the v0 signature over the raw
// body with Bolt's verifier (5-minute window), answers url_verification, and hands everything else
// to `app.processEvent`, answering Slack as soon as the listener acks.
import { parse as parseQuery } from 'node:querystring';
import { isValidSlackRequest, ReceiverMultipleAckError, type App, type Logger, type Receiver, type ReceiverEvent } from '@slack/bolt';

export interface SlackHttpRequest {
  /** The body exactly as received: the signature covers these bytes. */
  rawBody: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface SlackHttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface SignedRequestReceiverOptions {
  signingSecret: string;
  logger: Logger;
  now?: () => number;
}

const empty = (status: number): SlackHttpResponse => ({ status, headers: {}, body: '' });
const json = (value: unknown): SlackHttpResponse => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });

function header(req: SlackHttpRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class SignedRequestReceiver implements Receiver {
  private app?: App;
  private readonly now: () => number;

  constructor(private readonly opts: SignedRequestReceiverOptions) {
    this.now = opts.now ?? Date.now;
  }

  init(app: App): void {
    this.app = app;
  }

  /** The HTTP server is Nest's: nothing to start or stop here. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  /** Bad or stale signature → 401 with an empty body, and nothing else happens. */
  verify(req: SlackHttpRequest): boolean {
    const signature = header(req, 'x-slack-signature');
    const timestamp = Number(header(req, 'x-slack-request-timestamp'));
    if (!signature || !Number.isInteger(timestamp)) return false;
    return isValidSlackRequest({
      signingSecret: this.opts.signingSecret,
      body: req.rawBody,
      headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
      nowMilliseconds: this.now(),
      logger: this.opts.logger,
    });
  }

  async handle(req: SlackHttpRequest): Promise<SlackHttpResponse> {
    if (!this.verify(req)) {
      this.opts.logger.info('slack request refused: bad or stale signature');
      return empty(401);
    }
    let body: Record<string, unknown>;
    try {
      body = parseBody(req.rawBody, header(req, 'content-type') ?? '');
    } catch {
      return empty(400);
    }
    if (body.ssl_check) return empty(200);
    if (body.type === 'url_verification') return json({ challenge: body.challenge });
    if (!this.app) return empty(503);
    const app = this.app;
    const retryNum = Number(header(req, 'x-slack-retry-num'));

    return new Promise<SlackHttpResponse>((resolve) => {
      let acked = false;
      const event: ReceiverEvent = {
        body,
        ...(Number.isInteger(retryNum) ? { retryNum, retryReason: header(req, 'x-slack-retry-reason') } : {}),
        ack: async (response?: unknown) => {
          if (acked) throw new ReceiverMultipleAckError();
          acked = true;
          if (response === undefined || response === null || response === '') resolve(empty(200));
          else if (typeof response === 'string') resolve({ status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: response });
          else resolve(json(response));
        },
      };
      app.processEvent(event).then(
        // No listener acked: nothing here handles this kind of request.
        () => acked || resolve(empty(404)),
        (err: unknown) => {
          this.opts.logger.error('slack listener failed', err instanceof Error ? err.message : String(err));
          if (!acked) resolve(empty(500));
        },
      );
    });
  }
}

/** Interactivity arrives form-encoded with a JSON `payload`; the Events API sends JSON. */
export function parseBody(raw: string, contentType: string): Record<string, unknown> {
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    const form = parseQuery(raw);
    if (typeof form.payload === 'string') return JSON.parse(form.payload) as Record<string, unknown>;
    return form as Record<string, unknown>;
  }
  return JSON.parse(raw) as Record<string, unknown>;
}
