// The pure SCIM pieces: a User's typed columns, attribute projection, PATCH guards, If-Match.
import { applyPatch } from '../../src/scim/patch';
import { project, type ScimResource } from '../../src/scim/query';
import { ENTERPRISE_USER, USER } from '../../src/scim/schemas';
import { renderUser, storedUser, userColumns, type UserRow } from '../../src/scim/user-resource';
import { checkIfMatch } from '../../src/scim/values';

const row = (o: Partial<UserRow> = {}): UserRow => ({
  id: 'u1',
  user_name: 'ann@example.com',
  external_id: null,
  display_name: 'Ann',
  title: 'Analyst',
  department: 'Finance',
  user_type: 'Employee',
  manager_id: 'bob',
  email: 'ann@example.com',
  active: true,
  resource: {},
  version: 3,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-02T00:00:00Z',
  groups: [{ value: 'finance', display: 'Finance' }],
  ...o,
});

describe('User columns', () => {
  it('derives the directory columns from the resource, enterprise extension included', () => {
    expect(
      userColumns({
        schemas: [USER, ENTERPRISE_USER],
        userName: 'ann@example.com',
        active: 'False',
        emails: [{ value: 'home@example.net', type: 'home' }, { value: 'ann@example.com', type: 'work' }],
        [ENTERPRISE_USER]: { department: 'Finance', manager: { value: 'bob', displayName: 'Bob' } },
      }),
    ).toEqual({ userName: 'ann@example.com', department: 'Finance', managerId: 'bob', email: 'ann@example.com', active: false });
  });

  it('folds enterprise attributes sent flattened into the extension and keeps only the manager id', () => {
    const stored = storedUser({ schemas: [USER], userName: 'a', [`${ENTERPRISE_USER}:department`]: 'Ops', [`${ENTERPRISE_USER}:manager.value`]: 'carol', meta: {}, groups: [] });
    expect(stored).toEqual({ userName: 'a', active: true, [ENTERPRISE_USER]: { department: 'Ops', manager: { value: 'carol' } } });
    expect(userColumns({ userName: 'a', [`${ENTERPRISE_USER}:department`]: 'Ops' }).department).toBe('Ops');
  });

  it('renders a seeded person (no stored resource) from the columns', () => {
    const r = renderUser(row(), 'https://x/scim/v2');
    expect(r).toMatchObject({
      schemas: [USER, ENTERPRISE_USER],
      id: 'u1',
      userName: 'ann@example.com',
      emails: [{ value: 'ann@example.com', type: 'work', primary: true }],
      groups: [{ value: 'finance', display: 'Finance', $ref: 'https://x/scim/v2/Groups/finance' }],
      [ENTERPRISE_USER]: { department: 'Finance', manager: { value: 'bob' } },
      meta: { version: 'W/"3"', location: 'https://x/scim/v2/Users/u1' },
    });
    // The round trip through a write keeps what the client sent, not what the server renders.
    expect(storedUser(r)).not.toHaveProperty('groups');
    expect(userColumns(r)).toMatchObject({ department: 'Finance', managerId: 'bob', email: 'ann@example.com' });
  });
});

describe('projection', () => {
  const r = renderUser(row({ resource: { name: { givenName: 'Ann', familyName: 'Lee' } } }), 'b') as ScimResource;
  it('returns id and schemas always, plus what was asked for', () => {
    expect(project(r, { attributes: ['NAME.givenName', `${ENTERPRISE_USER}:department`, `${USER}:title`] }, USER)).toEqual({
      schemas: r.schemas,
      id: 'u1',
      name: { givenName: 'Ann' },
      title: 'Analyst',
      [ENTERPRISE_USER]: { department: 'Finance' },
    });
  });
  it('drops what was excluded, never id or schemas', () => {
    const p = project(r, { excludedAttributes: ['id', 'emails', 'name.familyName', ENTERPRISE_USER] }, USER);
    expect(p).toMatchObject({ id: 'u1', name: { givenName: 'Ann' } });
    expect(p).not.toHaveProperty('emails');
    expect(p).not.toHaveProperty(ENTERPRISE_USER);
  });
});

describe('PATCH guards', () => {
  const r = renderUser(row(), 'b') as ScimResource;
  const body = (...Operations: unknown[]) => ({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations });
  it('refuses server-owned and read-only attributes, by path or in a path-less value', () => {
    for (const op of [
      { op: 'replace', path: 'meta.version', value: 'x' },
      { op: 'remove', path: `${USER}:id` },
      { op: 'add', path: 'groups', value: [] },
      { op: 'replace', value: { id: 'other' } },
    ]) {
      expect(() => applyPatch(r, body(op), USER, ['groups'])).toThrow(expect.objectContaining({ status: 400, scimType: 'mutability' }));
    }
  });
  it('lets an echoed, unchanged id through', () => {
    expect(applyPatch(r, body({ op: 'replace', value: { id: 'u1', title: 'Lead' } }), USER)).toMatchObject({ id: 'u1', title: 'Lead' });
  });
  it('reports malformed operations as invalidSyntax', () => {
    expect(() => applyPatch(r, body({ op: 'move', path: 'title' }), USER)).toThrow(expect.objectContaining({ scimType: 'invalidSyntax' }));
    expect(() => applyPatch(r, { Operations: [] }, USER)).toThrow(expect.objectContaining({ scimType: 'invalidSyntax' }));
  });
});

describe('If-Match', () => {
  it('matches the weak tag, its strong form and *, and refuses other versions with 412', () => {
    for (const h of [undefined, 'W/"3"', '"3"', '*', 'W/"2", W/"3"']) expect(() => checkIfMatch(h, 3)).not.toThrow();
    expect(() => checkIfMatch('W/"2"', 3)).toThrow(expect.objectContaining({ status: 412 }));
  });
});
