// A small bundle to write rules against, and the people and calls the tests use.
import type { EvaluationInput, GovernanceBundle, PolicyAgent, PolicyUser, Rule } from '../../src/policy/bundle';

export const alice: PolicyUser = { id: 'alice', userType: 'Employee', department: 'Engineering', active: true, groups: ['engineering'] };
export const dave: PolicyUser = { id: 'dave', userType: 'Contractor', department: 'Support', active: true, groups: ['support'] };
export const agent: PolicyAgent = { id: 'coding-agent', owner: 'alice' };

const object = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', properties, required, additionalProperties: false });

export function bundleWith(rules: Rule[]): GovernanceBundle {
  return {
    apps: [
      { id: 'github', name: 'GitHub', category: 'source-control', riskLevel: 'medium', dataClassification: 'internal', owner: 'bob', connector: { type: 'none' }, entitlements: [] },
      { id: 'crm', name: 'CRM', category: 'customer-data', riskLevel: 'high', dataClassification: 'customer', owner: 'carol', connector: { type: 'none' }, entitlements: [] },
      { id: 'payments', name: 'Payments', category: 'finance', riskLevel: 'critical', dataClassification: 'financial', owner: 'carol', connector: { type: 'credential' }, entitlements: [{ id: 'payments-api', name: 'API key' }] },
      { id: 'web', name: 'Web', category: 'external', riskLevel: 'medium', dataClassification: 'public', owner: 'carol', connector: { type: 'none' }, entitlements: [] },
    ],
    tools: [
      { id: 'github.read_repo', app: 'github', action: 'Read', description: 'Read a repository.', arguments: object({ repo: { type: 'string' } }, ['repo']) },
      { id: 'github.delete_branch', app: 'github', action: 'Destructive', description: 'Delete a branch.', arguments: object({ branch: { type: 'string' } }) },
      { id: 'crm.read_customer', app: 'crm', action: 'Read', description: 'Read a customer.', arguments: object({ customerId: { type: 'string' } }, ['customerId']) },
      {
        id: 'payments.refund',
        app: 'payments',
        action: 'Write',
        description: 'Refund an order.',
        arguments: object({ amount: { type: 'number' }, orderId: { type: 'string' }, cardNumber: { type: 'string', 'x-sensitive': true } }, ['amount', 'orderId']),
      },
      { id: 'web.post', app: 'web', action: 'External', description: 'Post to the web.', arguments: object({ url: { type: 'string', format: 'uri' } }) },
    ],
    routes: [
      { id: 'manager', steps: [{ approvers: ['delegator.manager'], timeoutSeconds: 3600 }] },
      { id: 'security', steps: [{ approvers: ['group:security'], timeoutSeconds: 3600 }] },
    ],
    rules,
    tests: [],
  };
}

export function call(toolId: string, over: Partial<EvaluationInput> = {}): EvaluationInput {
  const args: Record<string, Record<string, unknown>> = {
    'github.read_repo': { repo: 'acme/api' },
    'github.delete_branch': { branch: 'old' },
    'crm.read_customer': { customerId: 'c-1' },
    'payments.refund': { amount: 10, orderId: 'o-1' },
    'web.post': { url: 'https://example.org/' },
  };
  return { user: alice, agent, toolId, args: args[toolId] ?? {}, time: '2025-03-04T10:00:00Z', taskId: 't-1', ...over };
}
