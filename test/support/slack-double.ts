// A loopback double of the Slack Web API (127.0.0.1, random port): records every call, answers like
// Slack for the methods the orchestrator uses, and can fail the next N calls (429 + Retry-After, 500).
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseQuery } from 'node:querystring';

export interface SlackCall {
  method: string;
  body: Record<string, any>;
  token?: string;
}

export interface SlackUser {
  id: string;
  email?: string;
}

type Failure = { status: 429; retryAfter: number } | { status: 500 };

export interface SlackDouble {
  /** The Web API base URL (SLACK_API_URL). */
  url: string;
  calls: SlackCall[];
  /** Calls of one method, in order. */
  callsOf(method: string): SlackCall[];
  /** Waits until a call of `method` matching `where` has arrived (tests poll, never sleep). */
  waitFor(method: string, where?: (c: SlackCall) => boolean, timeoutMs?: number): Promise<SlackCall>;
  /** The next `n` calls (of `method`, or any) fail this way. */
  failNext(n: number, failure: Failure, method?: string): void;
  addUser(user: SlackUser): void;
  reset(): void;
  stop(): Promise<void>;
}

const JSON_FIELDS = new Set(['blocks', 'attachments', 'metadata', 'view']);

export async function startSlackDouble(opts: { users?: SlackUser[] } = {}): Promise<SlackDouble> {
  const calls: SlackCall[] = [];
  const users = new Map<string, SlackUser>();
  for (const u of opts.users ?? []) users.set(u.id, u);
  let failures: { n: number; failure: Failure; method?: string }[] = [];
  let seq = 0;
  const waiters = new Set<() => void>();

  const answer = (method: string, body: Record<string, any>): Record<string, unknown> => {
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T0TEST', user: 'orchestrator' };
      case 'chat.postMessage': {
        const channel = String(body.channel ?? '');
        const dm = channel.startsWith('U') ? `D${channel.slice(1)}` : channel;
        const ts = `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
        return { ok: true, channel: dm, ts, message: { text: body.text, blocks: body.blocks, ts } };
      }
      case 'chat.update':
        return { ok: true, channel: body.channel, ts: body.ts, text: body.text };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}` };
      case 'users.lookupByEmail': {
        const user = [...users.values()].find((u) => u.email?.toLowerCase() === String(body.email ?? '').toLowerCase());
        return user ? { ok: true, user: { id: user.id, profile: { email: user.email } } } : { ok: false, error: 'users_not_found' };
      }
      case 'users.info': {
        const user = users.get(String(body.user ?? ''));
        return user ? { ok: true, user: { id: user.id, profile: { email: user.email } } } : { ok: false, error: 'user_not_found' };
      }
      case 'views.open':
        return { ok: true, view: { id: `V${++seq}` } };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0];
      const body = parseBody(raw, String(req.headers['content-type'] ?? ''));
      const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '') || (body.token as string | undefined);
      calls.push({ method, body, token });
      for (const wake of [...waiters]) wake();
      const i = failures.findIndex((f) => !f.method || f.method === method);
      if (i >= 0) {
        const f = failures[i];
        if (--f.n <= 0) failures.splice(i, 1);
        if (f.failure.status === 429) {
          res.writeHead(429, { 'retry-after': String(f.failure.retryAfter), 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: 'ratelimited' }));
        } else res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream trouble');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer(method, body)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/api/`,
    calls,
    callsOf: (method) => calls.filter((c) => c.method === method),
    waitFor(method, where = () => true, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = calls.find((c) => c.method === method && where(c));
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${method} call within ${timeoutMs} ms (calls: ${calls.map((c) => c.method).join(', ') || 'none'})`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    failNext(n, failure, method) {
      failures.push({ n, failure, method });
    },
    addUser(user) {
      users.set(user.id, user);
    },
    reset() {
      calls.length = 0;
      failures = [];
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

function parseBody(raw: string, contentType: string): Record<string, any> {
  if (!raw) return {};
  if (contentType.startsWith('application/json')) return JSON.parse(raw) as Record<string, any>;
  const form = parseQuery(raw) as Record<string, any>;
  for (const key of Object.keys(form)) {
    if (JSON_FIELDS.has(key) && typeof form[key] === 'string') {
      try {
        form[key] = JSON.parse(form[key] as string);
      } catch {
        /* keep the string */
      }
    }
  }
  return form;
}

/**
 * A button click as Slack sends it to `POST /slack/events`: a `block_actions` payload, form
 * encoded, signed v0 with the signing secret. Returns the HTTP status.
 */
export async function sendSignedClick(opts: {
  baseUrl: string;
  signingSecret: string;
  responseUrl: string;
  slackUserId: string;
  action: string;
  value: string;
  comment?: string;
}): Promise<number> {
  const channel = `D${opts.slackUserId.slice(1)}`;
  const payload = {
    type: 'block_actions',
    team: { id: 'T0TEST', domain: 'acme' },
    user: { id: opts.slackUserId, username: opts.slackUserId.toLowerCase(), team_id: 'T0TEST' },
    api_app_id: 'A0TEST',
    token: 'legacy-verification-token',
    trigger_id: '1.2.3',
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: channel, is_ephemeral: false },
    channel: { id: channel, name: 'directmessage' },
    message: { type: 'message', ts: '1700000000.000100', text: 'card' },
    state: { values: opts.comment ? { comment: { comment: { type: 'plain_text_input', value: opts.comment } } } : {} },
    response_url: opts.responseUrl,
    actions: [{ type: 'button', action_id: opts.action, block_id: 'card', value: opts.value, text: { type: 'plain_text', text: opts.action }, action_ts: '1700000001.000200' }],
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = Math.floor(Date.now() / 1000);
  const signature = `v0=${createHmac('sha256', opts.signingSecret).update(`v0:${ts}:${body}`).digest('hex')}`;
  const res = await fetch(`${opts.baseUrl}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature },
    body,
  });
  await res.text();
  return res.status;
}
