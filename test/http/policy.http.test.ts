// The policy surfaces against the running app: the active version, a dry run with an explanation,
// and reload — an invalid bundle is refused with its errors and the active version stays; a valid
// one becomes active and the next decision pins it.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eventually } from '../support/eventually';
import { startStack, TOKENS, type Stack } from '../support/stack';

let stack: Stack;
let bundleDir: string;
const admin = { token: TOKENS.admin };

beforeAll(async () => {
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-'));
  fs.cpSync(path.resolve(__dirname, '../../governance'), bundleDir, { recursive: true });
  stack = await startStack({ env: { GOVERNANCE_DIR: bundleDir } });
});
afterAll(async () => {
  await stack?.stop();
  fs.rmSync(bundleDir, { recursive: true, force: true });
});

describe('policy API', () => {
  it('shows the active version and its rules (admin only)', async () => {
    const res = await stack.request('GET', '/v1/policy', admin);
    expect(res.status).toBe(200);
    expect(res.body.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(res.body.rules.map((r: { id: string }) => r.id)).toContain('deny-contractor-destructive');
    expect((await stack.request('GET', '/v1/policy')).status).toBe(403);
  });

  it('explains a dry run rule by rule, with no trace written', async () => {
    const before = (await stack.request('GET', '/v1/traces/verify', admin)).body.checked;
    const res = await stack.request('POST', '/v1/policy/evaluate', { ...admin, body: { userId: 'dave', agentId: 'support-agent', toolId: 'github.delete_branch', arguments: { repo: 'acme/api', branch: 'old' } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ decision: 'deny', reason: { code: 'contractor_destructive' }, policyVersion: expect.stringMatching(/^sha256:/) });
    const rule = res.body.rules.find((r: { id: string }) => r.id === 'deny-contractor-destructive');
    expect(rule).toMatchObject({ matched: true, mode: 'enforce' });
    expect(rule.why).toEqual(expect.any(String));
    expect(res.body.rules.find((r: { id: string }) => r.id === 'allow-read-active-employees')).toMatchObject({ matched: false });
    expect((await stack.request('GET', '/v1/traces/verify', admin)).body.checked).toBe(before);
    const unknown = await stack.request('POST', '/v1/policy/evaluate', { ...admin, body: { userId: 'nobody', agentId: 'coding-agent', toolId: 'github.read_repo' } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.code).toBe('user_unknown');
  });

  it('refuses an invalid bundle with file and path, keeps the active version, then activates a valid one', async () => {
    const active = (await stack.request('GET', '/v1/policy', admin)).body.version;
    const rulesFile = path.join(bundleDir, 'rules.yaml');
    const original = fs.readFileSync(rulesFile, 'utf8');
    fs.writeFileSync(rulesFile, original.replace(`when: 'tool.id eq "crm.export_customers"'`, `when: 'tool.id eq "crm.export_customers" and ('`));
    const bad = await stack.request('POST', '/v1/policy/reload', admin);
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe('bundle_invalid');
    expect(bad.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ file: 'rules.yaml', path: expect.stringMatching(/^rules\[\d+\]\.when$/) })]));
    expect((await stack.request('GET', '/v1/policy', admin)).body.version).toBe(active);

    // Deny every github write: a running task's next decision uses the new version.
    const taskId = `pol-${randomUUID()}`;
    await stack.request('POST', '/v1/tasks', { body: { taskId, userId: 'alice', agentId: 'coding-agent' } });
    const call = (callId: string) => stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId, toolId: 'github.create_pr', arguments: { repo: 'acme/api', title: 't', head: 'b' } } });
    expect((await call('before')).body).toMatchObject({ decision: 'allow', policyVersion: active });
    fs.writeFileSync(
      rulesFile,
      `${original}\n  - id: freeze-github-writes\n    description: Change freeze.\n    when: 'app.id eq "github" and action eq "Write"'\n    then: deny\n    reason: { code: change_freeze, message: No writes during the freeze. }\n`,
    );
    const good = await stack.request('POST', '/v1/policy/reload', admin);
    expect(good.status).toBe(200);
    expect(good.body.version).not.toBe(active);
    const after = await call('after');
    expect(after.body).toMatchObject({ decision: 'deny', policyVersion: good.body.version, reason: { code: 'change_freeze' } });

    // The grant the new version denies is revoked with a receipt, as after a move (its JIT access would be removed).
    expect(good.body.reevaluation).toBe(`policy-reevaluation-${good.body.version}`);
    const receipt = await eventually(async () => {
      const [row] = await stack.database.db.query<{ body: Record<string, unknown> }>(
        "select body from decision_traces where task_id = $1 and kind = 'revocation' and body->>'revocation' = 'mover_reevaluation'",
        [taskId],
      );
      return row?.body;
    }, 'the revocation receipt');
    expect(receipt).toMatchObject({ toolId: 'github.create_pr', cause: `policy:${good.body.version}`, reasonCode: 'change_freeze', policyVersion: good.body.version });
    expect((await stack.request('GET', `/v1/tasks/${taskId}`)).body).toMatchObject({ status: 'active', context: [], revoked: [expect.objectContaining({ toolId: 'github.create_pr' })] });
  });
});
