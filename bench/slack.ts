// Slack approvals: the pure costs (card building, Slack signature check, JWS signing) and two paths
// end to end on loopback — an escalation's card reaching the Slack double (askApprovers), and a
// signed click through NestJS + Bolt until the signed answer is handed to the workflow port.
import { createHmac, randomUUID } from 'node:crypto';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { isValidSlackRequest } from '@slack/bolt';
import { createNotifyActivities } from '../activities/notify';
import { ApprovalSigner, type SignedDecision } from '../src/approvals/approval-signing';
import type { ApprovalAnswers } from '../src/slack/approval-answers';
import { approvalCard, buttonValue, type ApprovalCardInput } from '../src/slack/cards';
import { SlackModule } from '../src/slack/slack.module';
import { slackWebClient } from '../src/slack/slack-web-client';
import { startSlackDouble } from '../test/support/slack-double';
import { CRM, EXPORT_TOOL, policy } from '../test/slack/fixtures';
import { DIGEST, openWorld } from '../test/slack/world';
import { exitWhenDone } from './harness';

const SIGNING_SECRET = 'bench-signing-secret';
const KEY = 'bench-approval-signing-key-0123456789abcdef';

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);

function report(name: string, samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const [p50, p99] = [quantile(sorted, 0.5), quantile(sorted, 0.99)];
  console.log(`  ${name.padEnd(56)} p50 ${fmt(p50).padStart(10)}  p99 ${fmt(p99).padStart(10)}  (n=${samples.length})`);
  return { p50, p99 };
}

async function timed(n: number, warmup: number, fn: () => unknown): Promise<number[]> {
  return sampled(n, warmup, async () => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  });
}

/** Each round measures itself (so per-round setup stays out of the figure). */
async function sampled(n: number, warmup: number, round: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n + warmup; i++) {
    const ms = await round();
    if (i >= warmup) out.push(ms);
  }
  return out;
}

const cardInput: ApprovalCardInput = {
  approvalId: randomUUID(),
  digest: DIGEST,
  delegator: { id: 'alice', name: 'Alice Example', title: 'Senior Engineer', department: 'Engineering' },
  agent: { id: 'support-agent', name: 'Support agent' },
  purpose: 'Renewal outreach for Q3',
  tool: EXPORT_TOOL,
  app: CRM,
  args: { segment: 'renewals-q3', apiKey: 'sk_live_x', filter: { ssn: '123', country: 'DE' } },
  rules: ['customer-export'],
  reason: 'Exports of customer data need a second pair of eyes',
  step: 0,
  deadline: new Date(Date.now() + 900_000).toISOString(),
  now: new Date().toISOString(),
};

function clickBody(slackUserId: string, value: string): string {
  const payload = {
    type: 'block_actions',
    team: { id: 'T0BENCH', domain: 'acme' },
    user: { id: slackUserId, username: 'bob', team_id: 'T0BENCH' },
    api_app_id: 'A0BENCH',
    token: 'legacy',
    trigger_id: '1.2.3',
    channel: { id: 'D0BOB', name: 'directmessage' },
    message: { type: 'message', ts: '1700000000.000100', text: 'Approval needed', blocks: approvalCard(cardInput).blocks },
    state: { values: {} },
    response_url: 'http://127.0.0.1:9/response',
    actions: [{ type: 'button', action_id: 'approve_task', block_id: 'approval:x', value, action_ts: '1700000001.000200' }],
  };
  return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

const sign = (body: string, ts: number) => `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;

export async function benchSlack(opts: { iterations?: number; warmup?: number } = {}): Promise<void> {
  const iterations = opts.iterations ?? 300;
  const warmup = opts.warmup ?? 30;
  console.log('slack approvals (loopback Slack double, PGlite in memory)');

  report('approval card built (Block Kit, redacted args)', await timed(iterations * 20, warmup, () => JSON.stringify(approvalCard(cardInput))));

  const body = clickBody('U0BOB', buttonValue({ approvalId: cardInput.approvalId, digest: DIGEST }));
  const ts = Math.floor(Date.now() / 1000);
  const signature = sign(body, ts);
  report(`signature verified (Bolt verifier, ${(body.length / 1024).toFixed(1)} KiB body)`, await timed(iterations * 20, warmup, () => {
    if (!isValidSlackRequest({ signingSecret: SIGNING_SECRET, body, headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': ts } })) throw new Error('bad signature');
  }));

  const signer = new ApprovalSigner(KEY);
  const decision: SignedDecision = { approvalId: randomUUID(), taskId: 't', callId: 'c', digest: DIGEST, policyVersion: DIGEST, personId: 'bob', choice: 'approve_task', at: new Date().toISOString() };
  report('approval JWS signed (HS256)', await timed(iterations * 10, warmup, () => signer.sign(decision)));
  const jws = await signer.sign(decision);
  report('approval JWS verified (HS256)', await timed(iterations * 10, warmup, () => signer.verify(jws)));

  const world = await openWorld();
  const slack = await startSlackDouble();
  let api: NestFastifyApplication | undefined;
  try {
    const acts = createNotifyActivities({ ...world, db: world.database.db, policy, slack: slackWebClient({ botToken: 'xoxb-bench', apiUrl: slack.url }) });
    const taskId = await world.task('alice');
    const escalations = await sampled(iterations, warmup, async () => {
      const { approvalId, call, plan } = await world.hold(taskId);
      const t = performance.now();
      const posted = slack.waitFor('chat.postMessage', (c) => (c.body.metadata as { event_payload?: { approvalId?: string } })?.event_payload?.approvalId === approvalId);
      const asked = acts.askApprovers({ taskId, approvalId, call, plan, step: 0, approverIds: ['bob'], deadline: new Date(Date.now() + 900_000).toISOString() });
      await posted;
      const postedMs = performance.now() - t;
      await asked;
      return postedMs;
    });
    report('escalation → card posted and recorded (askApprovers)', escalations);

    let answered: (() => void) | undefined;
    const answers: ApprovalAnswers = {
      async submit() {
        answered?.();
        return { accepted: true };
      },
    };
    const services = { ...world, db: world.database.db, policy, config: { slack: { signingSecret: SIGNING_SECRET, botToken: 'xoxb-bench', apiUrl: slack.url }, approvalSigningKey: KEY, logLevel: 'silent' } };
    api = await NestFactory.create<NestFastifyApplication>(SlackModule.forRoot(services, answers), new FastifyAdapter(), { rawBody: true, logger: false });
    await api.listen(0, '127.0.0.1');
    const url = `${(await api.getUrl()).replace('[::1]', '127.0.0.1')}/slack/events`;
    const clicks = await sampled(iterations, warmup, async () => {
      const { approvalId } = await world.hold(taskId);
      await world.approvals.setStep(approvalId, 0, ['bob'], new Date(Date.now() + 900_000).toISOString());
      const click = clickBody('U0BOB', buttonValue({ approvalId, digest: DIGEST }));
      const now = Math.floor(Date.now() / 1000);
      const submitted = new Promise<void>((resolve) => (answered = resolve));
      const t = performance.now();
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(now), 'x-slack-signature': sign(click, now) }, body: click });
      if (res.status !== 200) throw new Error(`click answered ${res.status}`);
      await submitted;
      return performance.now() - t;
    });
    report('signed click → answer signed and handed to the workflow', clicks);
  } finally {
    await api?.close();
    await slack.stop();
    await world.database.drop();
  }
}

if (require.main === module) exitWhenDone(benchSlack());
