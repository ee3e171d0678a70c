// Which plans the task workflow's first local activity decides at once, without a hold or provisioning.
import type { EvaluatedPlan } from '../../activities';
import { contextEntry, decidedAtOnce } from '../../workflows/plan-path';

const plan = (p: Partial<EvaluatedPlan>): EvaluatedPlan => ({
  decision: 'allow',
  digest: 'sha256:x',
  reach: 'open',
  appId: 'github',
  needsConfirmation: false,
  needsApproval: false,
  needsProvisioning: false,
  ...p,
});

describe('decidedAtOnce', () => {
  it.each([
    ['a refusal, whatever else the plan needs', { decision: 'deny', needsApproval: true, needsProvisioning: true }, true],
    ['a throttle', { decision: 'throttle', needsConfirmation: true }, true],
    ['an allow on the policy alone', {}, true],
    ['an allow the person must confirm', { reach: 'person-held', needsConfirmation: true }, false],
    ['an escalation', { decision: 'escalate', needsApproval: true }, false],
    ['an allow that first mints a credential', { needsProvisioning: true }, false],
  ] as [string, Partial<EvaluatedPlan>, boolean][])('%s', (_name, p, expected) => {
    expect(decidedAtOnce(plan(p))).toBe(expected);
  });
});

describe('contextEntry', () => {
  it('grants the call’s tool on the plan’s app, at the call’s time unless told otherwise', () => {
    const req = { callId: 'c1', toolId: 'github.create_pr', requestedAt: '2026-12-01T00:00:00.000Z' };
    expect(contextEntry(req, plan({}), 'policy')).toEqual({ toolId: 'github.create_pr', appId: 'github', grantedAt: req.requestedAt, via: 'policy' });
    expect(contextEntry(req, plan({}), 'approval', '2026-12-02T00:00:00.000Z').grantedAt).toBe('2026-12-02T00:00:00.000Z');
  });
});
