// A small governance world for the Slack tests: people, one app with a sensitive tool, and routes.
import type { DirectoryPerson } from '../../src/directory/person';
import type { SeedPerson } from '../../src/directory/directory-repository';
import type { App, ApproverRoute, Tool } from '../../src/policy/bundle';
import type { PolicyView } from '../../src/slack/approval-notifier';

export const person = (id: string, extra: Partial<DirectoryPerson> = {}): DirectoryPerson => ({
  id,
  userName: `${id}@example.com`,
  displayName: `${id[0].toUpperCase()}${id.slice(1)} Example`,
  email: `${id}@example.com`,
  active: true,
  groups: [],
  ...extra,
});

export const PEOPLE: SeedPerson[] = [
  { id: 'alice', userName: 'alice@example.com', displayName: 'Alice Example', title: 'Senior Engineer', department: 'Engineering', manager: 'bob', email: 'alice@example.com', slackUserId: 'U0ALICE', groups: ['engineering'] },
  { id: 'bob', userName: 'bob@example.com', displayName: 'Bob Manager', title: 'Engineering Manager', department: 'Engineering', email: 'bob@example.com', slackUserId: 'U0BOB', groups: ['managers'] },
  { id: 'carol', userName: 'carol@example.com', displayName: 'Carol Security', title: 'Security Engineer', department: 'Security', manager: 'bob', email: 'carol@example.com', slackUserId: 'U0CAROL', groups: ['security'] },
  // No stored Slack id: found by email (users.lookupByEmail / users.info).
  { id: 'erin', userName: 'erin@example.com', displayName: 'Erin Email', title: 'Security Analyst', department: 'Security', email: 'erin@example.com', groups: ['security'] },
  { id: 'dave', userName: 'dave@example.com', displayName: 'Dave Gone', department: 'Security', email: 'dave@example.com', slackUserId: 'U0DAVE', active: false, groups: ['security'] },
  { id: 'mallory', userName: 'mallory@example.com', displayName: 'Mallory Other', department: 'Sales', email: 'mallory@example.com', slackUserId: 'U0MALLORY' },
];

export const CRM: App = {
  id: 'crm',
  name: 'Acme CRM',
  category: 'sales',
  riskLevel: 'high',
  dataClassification: 'customer',
  owner: 'carol',
  connector: { type: 'scim' },
  entitlements: [{ id: 'crm-user', name: 'CRM user' }],
};

export const EXPORT_TOOL: Tool = {
  id: 'crm.export_contacts',
  app: 'crm',
  action: 'External',
  description: 'Exports contacts to a file',
  arguments: {
    type: 'object',
    properties: {
      segment: { type: 'string' },
      apiKey: { type: 'string', 'x-sensitive': true },
      filter: { type: 'object', properties: { ssn: { type: 'string', 'x-sensitive': true }, country: { type: 'string' } } },
    },
  },
};

export const ROUTES: ApproverRoute[] = [
  { id: 'manager-then-security', steps: [{ approvers: ['delegator.manager'], timeoutSeconds: 900 }, { approvers: ['group:security'], timeoutSeconds: 3600 }] },
  { id: 'app-owner', steps: [{ approvers: ['app.owner'], timeoutSeconds: 600 }] },
];

export const policyView: PolicyView = {
  tool: (id) => (id === EXPORT_TOOL.id ? EXPORT_TOOL : undefined),
  app: (id) => (id === CRM.id ? CRM : undefined),
  route: (id) => ROUTES.find((r) => r.id === id),
};

export const policy = { active: () => policyView };
