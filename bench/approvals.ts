// Escalation and approval through the whole stack: a gateway's call escalates (github.delete_branch
// → the delegator's manager), the card reaches Slack (a loopback double of the Web API), the
// manager clicks Approve (a signed interaction) and the waiting gateway gets its decision.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/config';
import { runOrchestrator } from '../src/orchestrator';
import { sendSignedClick, startSlackDouble } from '../test/support/slack-double';
import { exitWhenDone } from './harness';
import { percentile } from './latency';

export async function benchApprovals(rounds = Number(process.env.BENCH_APPROVALS ?? 100)): Promise<void> {
  const slack = await startSlackDouble({ users: [{ id: 'U0BOB', email: 'bob@example.com' }, { id: 'U0ALICE', email: 'alice@example.com' }] });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aao-bench-approvals-'));
  const gateway = randomBytes(18).toString('base64url');
  const signingSecret = randomBytes(16).toString('hex');
  const config = loadConfig({
    ...process.env,
    AUTH_TOKENS: `gateway:${gateway}`,
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'silent',
    SLACK_BOT_TOKEN: 'xoxb-bench',
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: slack.url,
    APPROVAL_SIGNING_KEY: randomBytes(32).toString('hex'),
  });
  const o = await runOrchestrator(config);
  const api = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(o.baseUrl + url, { method, headers: { authorization: `Bearer ${gateway}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await res.json()) as Record<string, unknown>;
  };
  const toCard: number[] = [];
  const toDecision: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const task = await api('POST', '/v1/tasks', { userId: 'alice', agentId: 'coding-agent', purpose: 'bench' });
      const taskId = task.taskId as string;
      const callId = randomUUID();
      const call = { callId, toolId: 'github.delete_branch', arguments: { repo: 'acme/api', branch: `b${i}` } };
      const t0 = performance.now();
      const held = await api('POST', `/v1/tasks/${taskId}/tool-calls`, call);
      if (held.decision !== 'pending') throw new Error(`not escalated: ${JSON.stringify(held)}`);
      const card = await slack.waitFor('chat.postMessage', (c) => c.body.channel === 'U0BOB' && c.body.metadata?.event_payload?.taskId === taskId, 15_000);
      toCard.push(performance.now() - t0);
      const buttons = (card.body.blocks as { type: string; elements?: { action_id?: string; value?: string }[] }[]).flatMap((b) => (b.type === 'actions' ? (b.elements ?? []) : []));
      const value = buttons.find((b) => b.action_id === 'approve_once')!.value!;
      const waiting = api('POST', `/v1/tasks/${taskId}/tool-calls?waitSeconds=30`, call);
      await new Promise((r) => setTimeout(r, 5)); // the gateway's request is in and waiting
      const t1 = performance.now();
      const status = await sendSignedClick({ baseUrl: o.baseUrl, signingSecret, responseUrl: `${slack.url}response`, slackUserId: 'U0BOB', action: 'approve_once', value });
      const decided = await waiting;
      toDecision.push(performance.now() - t1);
      if (status !== 200 || decided.decision !== 'allow') throw new Error(`click ${status}, decision ${JSON.stringify(decided)}`);
    }
  } finally {
    await o.stop();
    await slack.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  toCard.sort((a, b) => a - b);
  toDecision.sort((a, b) => a - b);
  console.log(`approvals through the stack (${rounds} rounds, Slack Web API double on loopback, PGlite)`);
  console.log(`  escalation → card posted to Slack            p50 ${percentile(toCard, 50).toFixed(1)} ms  p99 ${percentile(toCard, 99).toFixed(1)} ms`);
  console.log(`  approval click → waiting gateway has allow   p50 ${percentile(toDecision, 50).toFixed(1)} ms  p99 ${percentile(toDecision, 99).toFixed(1)} ms`);
}

if (require.main === module) exitWhenDone(benchApprovals());
