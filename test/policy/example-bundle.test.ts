// The example governance bundle that `npm start` loads: valid, its own cases pass, and the
// README walk-through decides as the README says.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { runBundleTests } from '../../src/policy/bundle-tests';
import { compilePolicy } from '../../src/policy/compile';
import { loadBundleDir } from '../../src/policy/load-bundle';

const dir = path.resolve(__dirname, '../../governance');
const { bundle, errors } = loadBundleDir(dir);

describe('the example governance bundle', () => {
  it('is valid', () => {
    expect(errors).toEqual([]);
  });

  const policy = compilePolicy(bundle);

  it.each(runBundleTests(policy))('passes its own case: $note', (result) => {
    expect(result.got).toMatchObject(result.want);
    expect(result.pass).toBe(true);
  });

  it('has cases for every outcome', () => {
    expect(new Set(bundle.tests.map((t) => t.want.decision))).toEqual(new Set(['allow', 'deny', 'escalate', 'throttle']));
    expect(bundle.tests.length).toBeGreaterThanOrEqual(10);
  });

  it("names the entitlement each tool needs (its own, else its app's first) and the tools that share it", () => {
    expect(policy.entitlement('wiki.edit_page')).toBe('wiki-editor');
    expect(policy.entitlement('crm.export_customers')).toBe('crm-user');
    expect(policy.entitlement('web.fetch')).toBeUndefined();
    expect(policy.sameAccess('crm.read_customer').sort()).toEqual(['crm.export_customers', 'crm.read_customer']);
    expect(policy.sameAccess('wiki.read_page')).toEqual(['wiki.read_page']);
    expect(policy.sameAccess('no.such_tool')).toEqual([]);
  });

  it('names app owners who are in the example directory', () => {
    const directory = parse(readFileSync(path.join(dir, 'directory.yaml'), 'utf8')) as { people: { id: string }[] };
    const people = new Set(directory.people.map((p) => p.id));
    expect(bundle.apps.filter((a) => !people.has(a.owner))).toEqual([]);
  });

  describe('the README walk-through', () => {
    const alice = { id: 'alice', userType: 'Employee', department: 'Engineering', active: true, groups: ['engineering'] };
    const agent = { id: 'coding-agent', owner: 'alice' };
    const time = '2025-03-04T10:00:00Z';

    it('lets alice’s coding agent read acme/api', () => {
      expect(policy.evaluate({ user: alice, agent, toolId: 'github.read_repo', args: { repo: 'acme/api' }, time }).decision).toBe('allow');
    });

    it('denies shell.exec as an unknown tool', () => {
      expect(policy.evaluate({ user: alice, agent, toolId: 'shell.exec', args: { cmd: 'ls' }, time }).reason?.code).toBe('unknown_tool');
    });
  });
});
