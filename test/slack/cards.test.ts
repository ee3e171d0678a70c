// Approval cards (pure): what an approver sees, and what never appears on a card.
import {
  approvalCard,
  confirmationCard,
  decidedCard,
  parseButtonValue,
  redactArguments,
  REDACTED,
  timeLeft,
  type ApprovalCardInput,
} from '../../src/slack/cards';
import { CRM, EXPORT_TOOL } from './fixtures';

const input: ApprovalCardInput = {
  approvalId: 'ap-1',
  digest: 'sha256:' + 'ab'.repeat(32),
  delegator: { id: 'alice', name: 'Alice Example', title: 'Senior Engineer', department: 'Engineering' },
  agent: { id: 'support-agent', name: 'Support agent' },
  purpose: 'Send the Q3 renewal list to <finance> & ops',
  tool: EXPORT_TOOL,
  app: CRM,
  args: { segment: 'renewals-q3', apiKey: 'sk_live_SECRET123', filter: { ssn: '123-45-6789', country: 'DE' } },
  rules: ['contractor-customer-data'],
  reason: 'Contractors exporting customer data need the app owner',
  provisions: false,
  step: 0,
  deadline: '2025-01-02T03:19:05.000Z',
  now: '2025-01-02T03:04:05.000Z',
};

const text = (card: { blocks: unknown[] }) => JSON.stringify(card.blocks);
const argumentsOf = (card: { blocks: any[] }) => card.blocks.find((b) => b.text?.text?.startsWith('*Arguments*')).text.text as string;
const buttons = (card: { blocks: any[] }) => card.blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements);

describe('approval card', () => {
  const card = approvalCard(input);
  const all = text(card);

  it('carries the HR fields of the delegating person, the agent and the task purpose', () => {
    expect(all).toContain('Alice Example (Senior Engineer, Engineering)');
    expect(all).toContain('Support agent (support-agent)');
    expect(all).toContain('Send the Q3 renewal list to &lt;finance&gt; &amp; ops');
  });

  it('carries the tool with its action class and the app with risk level and data classification', () => {
    expect(all).toContain('`crm.export_contacts` · External');
    expect(all).toContain('Acme CRM (crm)');
    expect(all).toContain('high risk · customer data');
  });

  it('says which rule escalated and why, and how long the approver has', () => {
    expect(all).toContain('`contractor-customer-data`: Contractors exporting customer data need the app owner');
    expect(all).toContain('<!date^1735787945^');
    expect(all).toContain('15 minutes left');
    expect(card.text).toContain('Answer within 15 minutes');
  });

  it('redacts the arguments the tool schema marks x-sensitive, nested ones too', () => {
    const args = argumentsOf(card);
    expect(args).toContain('segment: renewals-q3');
    expect(args).toContain(`apiKey: ${REDACTED}`);
    expect(args).toContain(`filter: {"ssn":"${REDACTED}","country":"DE"}`);
    expect(all).not.toContain('sk_live_SECRET123');
    expect(all).not.toContain('123-45-6789');
    expect(card.text).not.toContain('SECRET');
  });

  it('offers Approve once / Approve for this task / Deny, each bound to the approval and digest', () => {
    expect(buttons(card).map((b: any) => [b.action_id, b.text.text])).toEqual([
      ['approve_once', 'Approve once'],
      ['approve_task', 'Approve for this task'],
      ['deny', 'Deny'],
    ]);
    for (const b of buttons(card)) expect(parseButtonValue(b.value)).toEqual({ approvalId: 'ap-1', digest: input.digest });
  });

  it('explains just-in-time provisioning when the person lacks the access', () => {
    const jit = text(approvalCard({ ...input, rules: [], reason: undefined, provisions: true }));
    expect(jit).toContain('Alice Example has no access to Acme CRM (crm): approving provisions it just in time');
  });
});

describe('confirmation and decided cards', () => {
  it('asks the delegating person to Confirm or Decline', () => {
    const card = confirmationCard(input);
    expect(buttons(card).map((b: any) => b.action_id)).toEqual(['confirm', 'decline']);
    expect(text(card)).not.toContain('sk_live_SECRET123');
  });

  it('shows who decided what and when, with no buttons left', () => {
    const card = decidedCard({
      kind: 'approval',
      delegator: input.delegator,
      agent: input.agent,
      tool: { id: EXPORT_TOOL.id },
      app: { id: 'crm', name: 'Acme CRM' },
      outcome: 'deny',
      by: { id: 'carol', name: 'Carol Security', title: 'Security Engineer' },
      at: '2025-01-02T03:10:00.000Z',
      comment: 'not for contractors',
    });
    const all = text(card);
    expect(all).toContain('⛔ Denied by Carol Security (Security Engineer)');
    expect(all).toContain('<!date^1735787400^');
    expect(all).toContain('not for contractors');
    expect(buttons(card)).toEqual([]);
    expect(decidedCard({ ...input, kind: 'approval', tool: { id: 'x' }, outcome: 'timed_out', at: input.now }).text).toMatch(/^⌛ Timed out/);
  });
});

describe('card helpers', () => {
  it('redacts inside arrays of objects', () => {
    const schema = { type: 'array', items: { type: 'object', properties: { token: { 'x-sensitive': true } } } };
    expect(redactArguments([{ token: 'a', id: 1 }], schema)).toEqual([{ token: REDACTED, id: 1 }]);
  });

  it('rejects button values that are not ours', () => {
    expect(parseButtonValue('nope')).toBeUndefined();
    expect(parseButtonValue(JSON.stringify({ a: 'x' }))).toBeUndefined();
  });

  it.each([
    [30, '30 seconds'],
    [15 * 60, '15 minutes'],
    [3 * 3600, '3 hours'],
    [3 * 86400, '3 days'],
    [-5, '0 seconds'],
  ])('time left after %i s reads %s', (s, want) => {
    expect(timeLeft('2025-01-01T00:00:00Z', new Date(Date.parse('2025-01-01T00:00:00Z') + s * 1000).toISOString())).toBe(want);
  });
});
