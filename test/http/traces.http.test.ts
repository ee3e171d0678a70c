// The Decision Trace API and CLI against the running app: SCIM-filtered queries, single records,
// chain verification, and replay of recorded decisions with their pinned policy version.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTraceCli } from '../../src/audit/cli';
import { startStack, TOKENS, type Stack } from '../support/stack';

let stack: Stack;
let taskId: string;
const decided: Record<string, string> = {};

beforeAll(async () => {
  stack = await startStack();
  taskId = `traces-${randomUUID()}`;
  await stack.request('POST', '/v1/tasks', { body: { taskId, userId: 'alice', agentId: 'coding-agent' } });
  const calls = [
    ['allow1', 'github.read_repo', { repo: 'acme/api' }],
    ['allow2', 'github.create_pr', { repo: 'acme/api', title: 'fix', head: 'b1' }],
    ['unknown', 'shell.exec', {}],
    ['badargs', 'github.read_repo', { repo: 42 }],
  ] as const;
  for (const [callId, toolId, args] of calls) {
    const res = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId, toolId, arguments: args } });
    decided[callId] = res.body.traceId;
  }
});
afterAll(async () => {
  await stack?.stop();
});

const admin = { token: TOKENS.admin };
const cli = async (...argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTraceCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, {
    open: async () => ({ traces: stack.services.traces, policies: stack.services.policy, signer: stack.services.checkpoints, close: async () => undefined }),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
};

describe('traces API', () => {
  it('answers "who did what" with one SCIM filter, in chain order', async () => {
    const filter = encodeURIComponent(`taskId eq "${taskId}" and userId eq "alice" and decision eq "allow"`);
    const res = await stack.request('GET', `/v1/traces?filter=${filter}`, admin);
    expect(res.status).toBe(200);
    expect(res.body.totalResults).toBe(2);
    expect(res.body.Resources.map((r: { body: { toolId: string } }) => r.body.toolId)).toEqual(['github.read_repo', 'github.create_pr']);
    const denied = await stack.request('GET', `/v1/traces?filter=${encodeURIComponent(`taskId eq "${taskId}" and (reasonCode eq "unknown_tool" or reasonCode eq "invalid_arguments")`)}&count=1`, admin);
    expect(denied.body).toMatchObject({ totalResults: 2, itemsPerPage: 1, startIndex: 1 });
  });

  it('returns one record with its chain links and snapshot, and 404 for an unknown id', async () => {
    const res = await stack.request('GET', `/v1/traces/${decided.allow1}`, admin);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ traceId: decided.allow1, kind: 'decision', hash: expect.stringMatching(/^[0-9a-f]{64}$/), prevHash: expect.any(String) });
    expect(res.body.body.snapshot).toMatchObject({ user: { id: 'alice', department: 'Engineering' }, args: { repo: 'acme/api' } });
    expect((await stack.request('GET', `/v1/traces/${randomUUID()}`, admin)).status).toBe(404);
  });

  it('verifies the chain', async () => {
    const res = await stack.request('GET', '/v1/traces/verify', admin);
    expect(res.body).toMatchObject({ ok: true, checked: expect.any(Number) });
    expect(res.body.checked).toBeGreaterThanOrEqual(4);
  });

  it('refuses a bad filter with a problem, and a gateway token with 403', async () => {
    const bad = await stack.request('GET', `/v1/traces?filter=${encodeURIComponent('password eq "x"')}`, admin);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(bad.body.code).toBe('invalid_filter');
    // A number no bigint holds (1e999 parses as Infinity), a date the database cannot read: the
    // same, not a database error.
    for (const filter of ['seq gt 1e999', 'seq gt 1e300', 'seq gt 1.5', 'time gt "10000-01-01"', 'time lt "0000-01-01T00:00:00Z"']) {
      const res = await stack.request('GET', `/v1/traces?filter=${encodeURIComponent(filter)}`, admin);
      expect([res.status, res.body.code]).toEqual([400, 'invalid_filter']);
    }
    expect((await stack.request('GET', '/v1/traces')).status).toBe(403);
    expect((await stack.request('GET', '/v1/traces', { token: null })).status).toBe(401);
  });
});

describe('trace CLI', () => {
  it('replays recorded decisions with their pinned policy version and says they match', async () => {
    for (const callId of ['allow1', 'allow2', 'unknown']) {
      const r = await cli('replay', decided[callId]);
      expect(r.err).toMatch(/MATCHES/);
      expect(r.code).toBe(0);
    }
    const replayed = JSON.parse((await cli('replay', decided.allow2)).out);
    expect(replayed).toMatchObject({ replayable: true, matches: true, recorded: { decision: 'allow' }, replayed: { decision: 'allow' } });
  });

  it('queries and verifies', async () => {
    const q = await cli('query', `taskId eq "${taskId}" and decision eq "deny"`);
    expect(q.code).toBe(0);
    expect(q.out.split('\n').map((l) => JSON.parse(l).callId).sort()).toEqual(['badargs', 'unknown']);
    const v = await cli('verify');
    expect(v.out).toMatch(/^OK: \d+ records/);
    expect(v.code).toBe(0);
    expect((await cli('query', 'nonsense eq 1')).code).toBe(2);
  });

  it('prunes old records into an archive and still verifies', async () => {
    const archive = path.join(os.tmpdir(), `traces-${randomUUID()}.jsonl`);
    try {
      const before = await cli('verify');
      const total = Number(/OK: (\d+) records/.exec(before.out)![1]);
      const pruned = await cli('prune', new Date(Date.now() + 60_000).toISOString(), archive);
      expect(pruned.code).toBe(0);
      expect(pruned.out).toMatch(new RegExp(`Pruned ${total} record`));
      expect(fs.readFileSync(archive, 'utf8').trim().split('\n')).toHaveLength(total);
      const after = await cli('verify');
      expect(after.out).toMatch(/^OK: 0 records, 1 signed checkpoint/);
      const next = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'after-prune', toolId: 'github.read_repo', arguments: { repo: 'acme/api' } } });
      expect(next.body.decision).toBe('allow');
      expect((await cli('verify')).out).toMatch(/^OK: 1 records/);
    } finally {
      fs.rmSync(archive, { force: true });
    }
  });
});
