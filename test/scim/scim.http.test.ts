// The SCIM 2.0 service provider end to end: what an IdP (Okta, Entra ID) sees at /scim/v2.
import { randomUUID } from 'node:crypto';
import { startStack, TOKENS, type Stack } from '../support/stack';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const AGENT = 'urn:ietf:params:scim:schemas:core:2.0:Agent';
const APPLICATION = 'urn:ietf:params:scim:schemas:core:2.0:AgenticApplication';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

type Opts = { body?: unknown; token?: string | null; headers?: Record<string, string> };
const scim = (method: string, url: string, o: Opts = {}) =>
  stack.request(method, `/scim/v2${url}`, { token: TOKENS.scim, ...o, headers: { ...(o.body === undefined ? {} : { 'content-type': 'application/scim+json' }), ...o.headers } });
const patchOps = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });

async function createUser(extra: Record<string, unknown> = {}) {
  const name = `u-${randomUUID().slice(0, 8)}`;
  const res = await scim('POST', '/Users', { body: { schemas: [USER], userName: `${name}@example.com`, ...extra } });
  expect(res.status).toBe(201);
  return res.body as { id: string; userName: string; meta: { version: string } } & Record<string, unknown>;
}

function expectScimError(res: { status: number; headers: Headers; body: any }, status: number, scimType?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/scim+json');
  expect(res.body).toEqual({ schemas: [ERROR], status: String(status), detail: expect.any(String), ...(scimType ? { scimType } : {}) });
}

describe('discovery', () => {
  it('advertises patch, filter, sort, etag and the agent extension', async () => {
    const res = await scim('GET', '/ServiceProviderConfig');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/scim+json');
    expect(res.body).toMatchObject({
      patch: { supported: true },
      filter: { supported: true, maxResults: expect.any(Number) },
      sort: { supported: true },
      etag: { supported: true },
      bulk: { supported: false },
      agentExtension: { supported: true, agentsSupported: true, agenticApplicationsSupported: true },
    });
  });

  it('lists the resource types and their schemas', async () => {
    const types = await scim('GET', '/ResourceTypes');
    expect(types.body.Resources.map((t: { endpoint: string }) => t.endpoint)).toEqual(['/Users', '/Groups', '/Agents', '/AgenticApplications']);
    expect((await scim('GET', '/ResourceTypes/Agent')).body).toMatchObject({ schema: AGENT });
    const schemas = await scim('GET', '/Schemas');
    expect(schemas.body.Resources.map((s: { id: string }) => s.id)).toEqual(expect.arrayContaining([USER, ENTERPRISE, GROUP, AGENT, APPLICATION]));
    const agent = await scim('GET', `/Schemas/${AGENT}`);
    expect(agent.body.attributes.map((a: { name: string }) => a.name)).toEqual(expect.arrayContaining(['name', 'owners', 'protocols', 'applications']));
  });
});

describe('Users', () => {
  it('creates, reads, replaces and deletes a person, with the enterprise extension kept in sync with the directory', async () => {
    const created = await scim('POST', '/Users', {
      body: {
        schemas: [USER, ENTERPRISE],
        userName: `ann-${randomUUID().slice(0, 6)}@example.com`,
        externalId: 'okta-00u1',
        name: { givenName: 'Ann', familyName: 'Lee' },
        displayName: 'Ann Lee',
        title: 'Analyst',
        userType: 'Employee',
        emails: [{ value: 'ann@example.com', type: 'work', primary: true }],
        [ENTERPRISE]: { department: 'Finance', employeeNumber: '701', manager: { value: 'bob' } },
      },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.headers.get('location')).toMatch(new RegExp(`/scim/v2/Users/${id}$`));
    expect(created.headers.get('etag')).toBe('W/"1"');
    expect(created.body).toMatchObject({
      schemas: [USER, ENTERPRISE],
      active: true,
      name: { givenName: 'Ann', familyName: 'Lee' },
      [ENTERPRISE]: { department: 'Finance', employeeNumber: '701', manager: { value: 'bob' } },
      meta: { resourceType: 'User', version: 'W/"1"', location: expect.stringContaining(`/Users/${id}`) },
    });
    // What the policy and routing read.
    expect(await stack.services.directory.user(id)).toMatchObject({ department: 'Finance', title: 'Analyst', userType: 'Employee', manager: 'bob', active: true });

    const replaced = await scim('PUT', `/Users/${id}`, { body: { schemas: [USER], userName: created.body.userName, title: 'Senior Analyst', userType: 'Employee' } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ title: 'Senior Analyst', active: true, meta: { version: 'W/"2"' } });
    expect(replaced.body[ENTERPRISE]).toBeUndefined();
    expect(await stack.services.directory.user(id)).toMatchObject({ title: 'Senior Analyst', department: undefined, manager: undefined });

    expect((await scim('DELETE', `/Users/${id}`)).status).toBe(204);
    expectScimError(await scim('GET', `/Users/${id}`), 404);
    expectScimError(await scim('DELETE', `/Users/${id}`), 404);
  });

  it('pages, sorts and projects a filtered list', async () => {
    const tag = `page-${randomUUID().slice(0, 6)}`;
    for (const n of ['d', 'b', 'g', 'a', 'e', 'c', 'f']) {
      await scim('POST', '/Users', { body: { schemas: [USER], userName: `${tag}-${n}@example.com`, externalId: `${tag}-${n}`, title: n === 'a' ? undefined : `T-${n}` } });
    }
    const page = (q: string) => scim('GET', `/Users?filter=${encodeURIComponent(`externalId sw "${tag}"`)}&sortBy=userName${q}`);
    const names = (res: { body: any }) => res.body.Resources.map((r: { userName: string }) => r.userName.slice(tag.length + 1, tag.length + 2));

    const first = await page('&count=3');
    expect(first.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 7, startIndex: 1, itemsPerPage: 3 });
    expect(names(first)).toEqual(['a', 'b', 'c']);
    expect(names(await page('&count=3&startIndex=4'))).toEqual(['d', 'e', 'f']);
    const last = await page('&count=3&startIndex=7');
    expect(last.body).toMatchObject({ totalResults: 7, startIndex: 7, itemsPerPage: 1 });
    expect(names(await page('&sortOrder=descending&count=2'))).toEqual(['g', 'f']);
    expect((await page('&count=0')).body).toMatchObject({ totalResults: 7, itemsPerPage: 0, Resources: [] });
    // Past the end, however far (beyond what a 64-bit SQL offset holds): an empty page, not an error.
    expect((await page('&startIndex=99999999999999999999')).body).toMatchObject({ totalResults: 7, itemsPerPage: 0, Resources: [] });
    expect(names(await scim('GET', `/Users?filter=${encodeURIComponent(`externalId sw "${tag}" and title pr`)}&sortBy=title&sortOrder=descending`))).toEqual([
      'g',
      'f',
      'e',
      'd',
      'c',
      'b',
    ]);

    const only = await page('&count=1&attributes=userName,urn:ietf:params:scim:schemas:core:2.0:User:externalId');
    expect(Object.keys(only.body.Resources[0]).sort()).toEqual(['externalId', 'id', 'schemas', 'userName']);
    const without = await page('&count=1&excludedAttributes=meta,emails');
    expect(without.body.Resources[0].meta).toBeUndefined();
    expect(without.body.Resources[0].userName).toBeDefined();
    const sub = await scim('GET', `/Users/alice?attributes=name.givenName,${ENTERPRISE}:department`);
    expect(sub.body).toEqual({ schemas: expect.any(Array), id: 'alice', [ENTERPRISE]: { department: 'Engineering' } });
  });

  it('filters in SQL over the mapped attributes', async () => {
    const res = await scim('GET', `/Users?filter=${encodeURIComponent('userType eq "Contractor" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "support"')}`);
    expect(res.status).toBe(200);
    expect(res.body.Resources.map((r: { id: string }) => r.id)).toEqual(['dave']);
    const byManager = await scim('GET', `/Users?filter=${encodeURIComponent('manager.value eq "bob" and emails.value ew "@example.com"')}&sortBy=id`);
    expect(byManager.body.Resources.map((r: { id: string }) => r.id)).toEqual(expect.arrayContaining(['alice', 'carol', 'dave']));
  });

  it('patches with add, replace and remove, value paths included', async () => {
    const u = await createUser({ emails: [{ value: 'w@example.com', type: 'work', primary: true }], title: 'Clerk' });
    const res = await scim('PATCH', `/Users/${u.id}`, {
      body: patchOps(
        { op: 'add', path: 'emails', value: [{ value: 'h@example.net', type: 'home' }] },
        { op: 'replace', path: 'emails[type eq "work"].value', value: 'work2@example.com' },
        { op: 'Replace', path: `${ENTERPRISE}:department`, value: 'Legal' },
        { op: 'replace', value: { displayName: 'Pat Doe', userType: 'Contractor' } },
        { op: 'remove', path: 'title' },
      ),
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      displayName: 'Pat Doe',
      userType: 'Contractor',
      emails: [
        { value: 'work2@example.com', type: 'work', primary: true },
        { value: 'h@example.net', type: 'home' },
      ],
      [ENTERPRISE]: { department: 'Legal' },
    });
    expect(res.body.title).toBeUndefined();
    expect(await stack.services.directory.user(u.id)).toMatchObject({ department: 'Legal', userType: 'Contractor', title: undefined });
    const person = await stack.services.directory.person(u.id);
    expect(person?.email).toBe('work2@example.com');

    const removed = await scim('PATCH', `/Users/${u.id}`, { body: patchOps({ op: 'remove', path: 'emails[type eq "home"]' }) });
    expect(removed.body.emails).toEqual([{ value: 'work2@example.com', type: 'work', primary: true }]);
  });

  it('refuses each kind of bad request with its SCIM error type', async () => {
    const u = await createUser({ emails: [{ value: 'e@example.com', type: 'work' }] });
    expectScimError(await scim('GET', `/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter');
    expectScimError(await scim('GET', `/Users?filter=${encodeURIComponent('emails[type eq "work"]')}`), 400, 'invalidFilter');
    expectScimError(await scim('GET', '/Users?sortBy=password'), 400, 'invalidValue');
    expectScimError(await scim('POST', '/Users', { body: { schemas: [USER], userName: u.userName.toUpperCase() } }), 409, 'uniqueness');
    expectScimError(await scim('POST', '/Users', { body: { schemas: [USER], displayName: 'No Name' } }), 400, 'invalidValue');
    expectScimError(await scim('POST', '/Users', { body: { schemas: [USER], userName: 'x@example.com', active: 'maybe' } }), 400, 'invalidValue');
    const longEmail = `${randomUUID().repeat(8)}@example.com`;
    expectScimError(await scim('POST', '/Users', { body: { schemas: [USER], userName: 'long-email@example.com', emails: [{ value: longEmail, primary: true }] } }), 400, 'invalidValue');
    expectScimError(await scim('POST', '/Users', { body: { userName: 'x@example.com' } }), 400, 'invalidSyntax');
    expectScimError(await scim('POST', '/Users', { body: '{"schemas": [' }), 400, 'invalidSyntax');
    expectScimError(await scim('PATCH', `/Users/${u.id}`, { body: { Operations: [{ op: 'replace', path: 'title', value: 'x' }] } }), 400, 'invalidSyntax');
    expectScimError(await scim('PATCH', `/Users/${u.id}`, { body: patchOps({ op: 'replace', path: 'id', value: 'other' }) }), 400, 'mutability');
    expectScimError(await scim('PATCH', `/Users/${u.id}`, { body: patchOps({ op: 'add', path: 'groups', value: [{ value: 'engineering' }] }) }), 400, 'mutability');
    // (`replace emails[type eq "other"].value` adds that email instead, as Entra ID expects.)
    expectScimError(await scim('PATCH', `/Users/${u.id}`, { body: patchOps({ op: 'replace', path: 'emails[value co "nowhere"].type', value: 'home' }) }), 400, 'noTarget');
    expectScimError(await scim('PATCH', `/Users/${u.id}`, { body: patchOps({ op: 'remove' }) }), 400, 'noTarget');
    expectScimError(await scim('PATCH', `/Users/${u.id}`, { body: patchOps({ op: 'replace', path: 'userName', value: 'bob@example.com' }) }), 409, 'uniqueness');
    expectScimError(await scim('GET', `/Users/${randomUUID()}`), 404);
    expectScimError(await scim('GET', '/Widgets'), 404);
    expectScimError(await scim('POST', '/Users', { body: '<user/>', headers: { 'content-type': 'application/xml' } }), 415);
    // A DELETE that says it carries SCIM JSON but sends nothing is still a DELETE.
    const g = await createUser();
    expect((await scim('DELETE', `/Users/${g.id}`, { headers: { 'content-type': 'application/scim+json' } })).status).toBe(204);
    // Nothing changed along the way.
    expect((await scim('GET', `/Users/${u.id}`)).body.meta.version).toBe('W/"1"');
  });

  it('versions every write and honours If-Match', async () => {
    const u = await createUser();
    const got = await scim('GET', `/Users/${u.id}`);
    expect(got.headers.get('etag')).toBe('W/"1"');
    const ok = await scim('PATCH', `/Users/${u.id}`, { headers: { 'if-match': 'W/"1"' }, body: patchOps({ op: 'replace', path: 'title', value: 'One' }) });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe('W/"2"');
    const stale = await scim('PATCH', `/Users/${u.id}`, { headers: { 'if-match': 'W/"1"' }, body: patchOps({ op: 'replace', path: 'title', value: 'Two' }) });
    expectScimError(stale, 412);
    expectScimError(await scim('PUT', `/Users/${u.id}`, { headers: { 'if-match': 'W/"7"' }, body: { schemas: [USER], userName: u.userName } }), 412);
    expectScimError(await scim('DELETE', `/Users/${u.id}`, { headers: { 'if-match': 'W/"1"' } }), 412);
    expect((await scim('GET', `/Users/${u.id}`)).body.title).toBe('One');
    const any = await scim('PATCH', `/Users/${u.id}`, { headers: { 'if-match': '*' }, body: patchOps({ op: 'replace', path: 'title', value: 'Three' }) });
    expect(any.body).toMatchObject({ title: 'Three', meta: { version: 'W/"3"' } });
  });

  it('answers 401 without a token and 403 for another role, as SCIM errors', async () => {
    expectScimError(await scim('GET', '/Users', { token: null }), 401);
    expectScimError(await scim('GET', '/Users/alice', { token: 'not-a-real-token-at-all' }), 401);
    expectScimError(await scim('GET', '/Users', { token: TOKENS.gateway }), 403);
    expectScimError(await scim('POST', '/Users', { token: TOKENS.admin, body: { schemas: [USER], userName: 'x@example.com' } }), 403);
    expectScimError(await scim('GET', '/ServiceProviderConfig', { token: null }), 401);
    // The rest of the API keeps problem+json.
    const other = await stack.request('GET', '/v1/tasks/x', { token: null });
    expect(other.headers.get('content-type')).toContain('application/problem+json');
  });
});

describe('Groups', () => {
  it('names a new group after its displayName and changes members by PATCH', async () => {
    const a = await createUser();
    const b = await createUser();
    const name = `Data Team ${randomUUID().slice(0, 4)}`;
    const created = await scim('POST', '/Groups', { body: { schemas: [GROUP], displayName: name, members: [{ value: a.id }] } });
    expect(created.status).toBe(201);
    expect(created.body.id).toBe(name.toLowerCase().replace(/ /g, '-'));
    const id = created.body.id as string;
    expect(created.body.members).toEqual([expect.objectContaining({ value: a.id, type: 'User' })]);

    const patched = await scim('PATCH', `/Groups/${id}`, {
      body: patchOps({ op: 'add', path: 'members', value: [{ value: b.id }] }, { op: 'remove', path: `members[value eq "${a.id}"]` }),
    });
    expect(patched.status).toBe(200);
    expect(patched.body.members.map((m: { value: string }) => m.value)).toEqual([b.id]);
    expect((await stack.services.directory.user(b.id))?.groups).toEqual([id]);
    expect((await stack.services.directory.user(a.id))?.groups).toEqual([]);
    expect((await scim('GET', `/Users/${b.id}`)).body.groups).toEqual([expect.objectContaining({ value: id })]);

    expectScimError(await scim('PATCH', `/Groups/${id}`, { body: patchOps({ op: 'add', path: 'members', value: [{ value: 'nobody-here' }] }) }), 400, 'invalidValue');
    const listed = await scim('GET', `/Groups?filter=${encodeURIComponent(`displayName eq "${name}"`)}`);
    expect(listed.body.totalResults).toBe(1);
    expect((await scim('DELETE', `/Groups/${id}`)).status).toBe(204);
    expect((await stack.services.directory.user(b.id))?.groups).toEqual([]);
  });
});

describe('Agents and AgenticApplications', () => {
  it('creates, reads, filters, patches and deletes an agent owned by a person', async () => {
    const created = await scim('POST', '/Agents', {
      body: {
        schemas: [AGENT],
        name: 'triage-bot',
        displayName: 'Triage bot',
        agentType: 'assistant',
        protocols: [{ type: 'mcp', specificationUrl: 'https://modelcontextprotocol.io' }],
        owners: [{ value: 'alice' }],
      },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({ name: 'triage-bot', active: true, owners: [{ value: 'alice' }], 'urn:agent-access:scim:schemas:extension:governance:2.0:Agent': { orphaned: false } });
    expect(await stack.services.directory.agent(id)).toMatchObject({ owner: 'alice', active: true });

    const owned = await scim('GET', `/Agents?filter=${encodeURIComponent('owners.value eq "alice" and agentType eq "assistant"')}`);
    expect(owned.body.Resources.map((r: { id: string }) => r.id)).toEqual([id]);

    const patched = await scim('PATCH', `/Agents/${id}`, { body: patchOps({ op: 'replace', path: 'owners', value: [{ value: 'carol' }] }, { op: 'replace', path: 'active', value: false }) });
    expect(patched.body).toMatchObject({ owners: [{ value: 'carol' }], active: false, meta: { version: 'W/"2"' } });
    expect(await stack.services.directory.agent(id)).toMatchObject({ owner: 'carol', active: false });

    expectScimError(await scim('POST', '/Agents', { body: { schemas: [AGENT], displayName: 'no name' } }), 400, 'invalidValue');
    expectScimError(await scim('POST', '/Agents', { body: { schemas: [AGENT], name: 'x', owners: [{ value: 'ghost' }] } }), 400, 'invalidValue');
    expectScimError(await scim('PATCH', `/Agents/${id}`, { body: patchOps({ op: 'add', path: 'groups', value: [{ value: 'g' }] }) }), 400, 'mutability');
    expect((await scim('DELETE', `/Agents/${id}`)).status).toBe(204);
    expectScimError(await scim('GET', `/Agents/${id}`), 404);
    expect(await stack.services.directory.agent(id)).toBeUndefined();
  });

  it('creates, replaces and deletes an agentic application', async () => {
    const created = await scim('POST', '/AgenticApplications', { body: { schemas: [APPLICATION], name: 'helpdesk', description: 'Hosts support agents' } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({ schemas: [APPLICATION], name: 'helpdesk', description: 'Hosts support agents', meta: { resourceType: 'AgenticApplication' } });
    const replaced = await scim('PUT', `/AgenticApplications/${id}`, { headers: { 'if-match': 'W/"1"' }, body: { schemas: [APPLICATION], name: 'helpdesk-2' } });
    expect(replaced.body).toMatchObject({ name: 'helpdesk-2', meta: { version: 'W/"2"' } });
    expect(replaced.body.description).toBeUndefined();
    const listed = await scim('GET', `/AgenticApplications?filter=${encodeURIComponent('name sw "helpdesk"')}`);
    expect(listed.body.Resources.map((r: { id: string }) => r.id)).toContain(id);
    expect((await scim('DELETE', `/AgenticApplications/${id}`)).status).toBe(204);
    expectScimError(await scim('GET', `/AgenticApplications/${id}`), 404);
  });
});
