// People, agents, tasks and signed HR events for the identity lifecycle tests, all through the
// public HTTP surfaces (SCIM, tasks API, HR webhooks) of a running stack.
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { TOKENS, type Stack } from '../support/stack';

export const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const AGENT = 'urn:ietf:params:scim:schemas:core:2.0:Agent';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** Two active HR secrets: a rotation in progress (the old one still signs). */
export const HR_SECRETS = ['whsec_bmV3LWhyLXNlY3JldC1mb3ItdGhlLXRlc3RzLTAx', 'whsec_b2xkLWhyLXNlY3JldC1mb3ItdGhlLXRlc3RzLTAy'];
export const HR_ENV = { HR_WEBHOOK_SECRET: HR_SECRETS.join(',') };

export const scim = (stack: Stack, method: string, url: string, body?: unknown, headers: Record<string, string> = {}) =>
  stack.request(method, `/scim/v2${url}`, { token: TOKENS.scim, body, headers: body === undefined ? headers : { 'content-type': 'application/scim+json', ...headers } });

export const patchOps = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });

export interface Person {
  id: string;
  userName: string;
  email: string;
}

/** A person in the directory through SCIM (an engineer unless told otherwise). */
export async function createPerson(stack: Stack, o: { userType?: string; manager?: string; groups?: string[]; department?: string } = {}): Promise<Person> {
  const name = `p-${randomUUID().slice(0, 8)}`;
  const email = `${name}@example.com`;
  const res = await scim(stack, 'POST', '/Users', {
    schemas: [USER, ENTERPRISE],
    userName: email,
    displayName: name,
    userType: o.userType ?? 'Employee',
    title: 'Engineer',
    emails: [{ value: email, type: 'work', primary: true }],
    [ENTERPRISE]: { department: o.department ?? 'Engineering', ...(o.manager ? { manager: { value: o.manager } } : {}) },
  });
  if (res.status !== 201) throw new Error(`create person: ${res.status} ${JSON.stringify(res.body)}`);
  for (const g of o.groups ?? ['engineering']) {
    const added = await scim(stack, 'PATCH', `/Groups/${g}`, patchOps({ op: 'add', path: 'members', value: [{ value: res.body.id }] }));
    if (added.status !== 200) throw new Error(`add to ${g}: ${added.status} ${JSON.stringify(added.body)}`);
  }
  return { id: res.body.id as string, userName: email, email };
}

export async function createAgent(stack: Stack, ownerId: string): Promise<string> {
  const res = await scim(stack, 'POST', '/Agents', { schemas: [AGENT], name: `agent-${randomUUID().slice(0, 8)}`, owners: [{ value: ownerId }] });
  if (res.status !== 201) throw new Error(`create agent: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

/** The arguments each tool used in these tests needs. */
export const TOOL_ARGS: Record<string, Record<string, unknown>> = {
  'github.read_repo': { repo: 'acme/api' },
  'github.create_pr': { repo: 'acme/api', title: 'Fix', head: 'fix' },
  'github.delete_branch': { repo: 'acme/api', branch: 'old' },
  'web.fetch': { url: 'https://example.com/' },
};

export async function startTask(stack: Stack, userId: string, agentId: string) {
  const res = await stack.request('POST', '/v1/tasks', { body: { userId, agentId, purpose: 'identity test' } });
  if (res.status !== 201) throw new Error(`start task: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.taskId as string;
}

export async function call(stack: Stack, taskId: string, toolId: string) {
  const res = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: randomUUID(), toolId, arguments: TOOL_ARGS[toolId] } });
  return { status: res.status, ...(res.body as { decision: string; reason?: { code: string }; approvalId?: string; callId: string }) };
}

/** A task holding these tools (each granted by the policy on its first call). */
export async function taskWithGrants(stack: Stack, userId: string, agentId: string, tools: string[]) {
  const taskId = await startTask(stack, userId, agentId);
  for (const t of tools) {
    const r = await call(stack, taskId, t);
    if (r.decision !== 'allow') throw new Error(`${t} not granted: ${JSON.stringify(r)}`);
  }
  return taskId;
}

export async function signedHrEvent(stack: Stack, event: unknown, o: { id?: string; secret?: string; at?: Date; signature?: string } = {}) {
  const id = o.id ?? `msg_${randomUUID()}`;
  const payload = JSON.stringify(event);
  const at = o.at ?? new Date();
  const signature = o.signature ?? new Webhook(o.secret ?? HR_SECRETS[0]).sign(id, at, payload);
  const res = await stack.request('POST', '/v1/hr/events', {
    token: null,
    body: payload,
    headers: { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature },
  });
  return { id, ...res };
}

