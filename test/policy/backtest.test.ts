// Backtesting a candidate bundle against recorded decisions, without a database.
import path from 'node:path';
import { backtest, ARGS_NOT_RECORDED } from '../../src/policy/backtest';
import type { EvaluationInput, GovernanceBundle, Rule } from '../../src/policy/bundle';
import { compilePolicy } from '../../src/policy/compile';
import { loadBundleDir } from '../../src/policy/load-bundle';
import { traced } from './records';

const { bundle } = loadBundleDir(path.resolve(__dirname, '../../governance'));
const current = compilePolicy(bundle);
const alice = { id: 'alice', userType: 'Employee', department: 'Engineering', title: 'Senior Engineer', manager: 'bob', active: true, groups: ['engineering'] };
const dave = { id: 'dave', userType: 'Contractor', department: 'Support', manager: 'bob', active: true, groups: ['support'] };
const agent = { id: 'coding-agent', owner: 'alice' };

const at = (minute: number) => new Date(Date.UTC(2025, 2, 4, 10, minute)).toISOString();
const callOf = (toolId: string, args: Record<string, unknown>, over: Partial<EvaluationInput> = {}): EvaluationInput => ({
  user: alice,
  agent,
  toolId,
  args,
  taskId: 't-1',
  time: at(0),
  ...over,
});

function candidate(change: (rules: Rule[]) => Rule[]): ReturnType<typeof compilePolicy> {
  const b: GovernanceBundle = { ...bundle, rules: change(structuredClone(bundle.rules)), tests: [] };
  return compilePolicy(b);
}

const history = () => [
  traced(current, callOf('github.read_repo', { repo: 'acme/api' })),
  traced(current, callOf('github.create_pr', { repo: 'acme/api', title: 'x', head: 'y' }, { time: at(1) })),
  traced(current, callOf('crm.read_customer', { customerId: 'c-1' }, { user: dave, agent: { id: 'support-agent', owner: 'dave' }, time: at(2), taskId: 't-2' })),
  traced(current, callOf('payments.refund', { amount: 5000, orderId: 'o-1' }, { user: dave, time: at(3), taskId: 't-2' })),
];

describe('a backtest', () => {
  it('changes nothing when the candidate is the policy that decided', () => {
    const r = backtest(history(), current);
    expect(r).toMatchObject({ candidate: current.version, decisions: 4, replayed: 3, changed: 0, changes: [], recordedVersions: [current.version] });
    expect(r.notReplayable).toEqual({ [ARGS_NOT_RECORDED]: 1 });
  });

  it('counts the calls a removed allow rule would deny, with examples', () => {
    const r = backtest(
      history(),
      candidate((rules) => rules.filter((x) => x.id !== 'allow-github-write')),
    );
    expect(r.changed).toBe(1);
    expect(r.changes).toEqual([
      {
        rule: 'no_rule_allows',
        from: 'allow',
        to: 'deny',
        count: 1,
        examples: [expect.objectContaining({ toolId: 'github.create_pr', userId: 'alice', taskId: 't-1', was: 'allow-github-write', now: 'no_rule_allows' })],
      },
    ]);
  });

  it('shows what a shadow rule would do once it enforces', () => {
    const r = backtest(
      history(),
      candidate((rules) => rules.map((x) => (x.id === 'shadow-contractor-customer-data' ? { ...x, mode: 'enforce' } : x))),
    );
    expect(r.changes.map(({ rule, from, to, count }) => ({ rule, from, to, count }))).toEqual([{ rule: 'shadow-contractor-customer-data', from: 'allow', to: 'deny', count: 1 }]);
  });

  it('does not replay calls whose rules read arguments, or that were refused for their arguments', () => {
    const records = [traced(current, callOf('payments.refund', { amount: 5, orderId: 'o' })), traced(current, callOf('github.read_repo', {}))];
    expect(records[1].body.reasonCode).toBe('invalid_arguments');
    expect(backtest(records, current).notReplayable).toEqual({ [ARGS_NOT_RECORDED]: 2 });
  });

  it('does not replay decisions made before the policy', () => {
    const r = traced(current, callOf('github.read_repo', { repo: 'a/b' }), { decision: 'deny', reasonCode: 'user_inactive', rules: undefined, snapshot: undefined });
    expect(backtest([r], current).notReplayable).toEqual({ 'decided before policy (user_inactive)': 1 });
  });

  it('compares with what the policy decided, not with what an approver answered', () => {
    const escalated = traced(current, callOf('github.delete_branch', { repo: 'acme/api', branch: 'old' }));
    expect(escalated.body.rules?.map((m) => m.outcome)).toContain('escalate');
    const approved = { ...escalated, body: { ...escalated.body, decision: 'allow' } };
    expect(backtest([approved], current).changed).toBe(0);
  });

  it('rebuilds throttle windows from the allowed calls it replays', () => {
    const strict = candidate((rules) => rules.map((x) => (x.id === 'throttle-repo-reads' ? { ...x, limit: { max: 2, windowSeconds: 60, per: 'task' as const } } : x)));
    const reads = [0, 0.2, 0.5, 3].map((m) => traced(current, callOf('github.read_repo', { repo: 'acme/api' }, { time: new Date(Date.UTC(2025, 2, 4, 10, 0, m * 60)).toISOString() })));
    const r = backtest(reads, strict);
    expect(r.changes).toEqual([expect.objectContaining({ rule: 'throttle-repo-reads', from: 'allow', to: 'throttle', count: 1 })]);
    expect(r.changes[0].examples[0].traceId).toBe(reads[2].traceId);
  });

  it('keeps a few examples per change and ignores other kinds of trace', () => {
    const many = Array.from({ length: 5 }, (_, i) => traced(current, callOf('github.create_pr', { repo: 'acme/api', title: 'x', head: 'y' }, { time: at(i) })));
    const grant = { ...many[0], kind: 'grant' as const, traceId: 'g' };
    const r = backtest([...many, grant], candidate((rules) => rules.filter((x) => x.id !== 'allow-github-write')), { examples: 2 });
    expect(r.decisions).toBe(5);
    expect(r.changes[0]).toMatchObject({ count: 5, examples: [{ traceId: many[0].traceId }, { traceId: many[1].traceId }] });
  });
});
