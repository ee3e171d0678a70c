// A bundle is refused with every problem named by file and path; a folder is read file by file.
import { mkdtempSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { GovernanceBundle } from '../../src/policy/bundle';
import { BundleInvalidError, compilePolicy, validateBundle } from '../../src/policy/compile';
import { loadBundleDir } from '../../src/policy/load-bundle';
import { bundleWith } from './fixtures';

const valid = (): GovernanceBundle => {
  const b = bundleWith([
    { id: 'allow-reads', when: 'action eq "Read"', then: 'allow' },
    { id: 'esc', when: 'action eq "Destructive"', then: 'escalate', route: 'manager' },
  ]);
  b.tests = [{ note: 'reads', input: { user: { id: 'a', active: true }, agent: { id: 'x' }, toolId: 'github.read_repo', args: { repo: 'r' }, time: '2025-01-01T00:00:00Z' }, want: { decision: 'allow', rule: 'allow-reads' } }];
  return b;
};

describe('validating a bundle', () => {
  it('finds nothing wrong with a valid bundle', () => {
    expect(validateBundle(valid())).toEqual([]);
  });

  it.each<[string, (b: GovernanceBundle) => void, { file: string; path: string; message: RegExp }]>([
    ['a filter that does not parse', (b) => (b.rules[1].when = 'action eq'), { file: 'rules.yaml', path: 'rules[1].when', message: /^does not parse: / }],
    ['an attribute outside the document', (b) => (b.rules[0].when = 'usr.department eq "x"'), { file: 'rules.yaml', path: 'rules[0].when', message: /unknown attribute "usr.department"/ }],
    ['an unknown tool in a condition', (b) => (b.rules[0].when = 'tool.id eq "github.push"'), { file: 'rules.yaml', path: 'rules[0].when', message: /unknown tool "github.push"/ }],
    ['an unknown app in a condition', (b) => (b.rules[0].when = 'action eq "Read" and app.id eq "jira"'), { file: 'rules.yaml', path: 'rules[0].when', message: /unknown app "jira"/ }],
    ['an unknown action class', (b) => (b.rules[0].when = 'action eq "Delete"'), { file: 'rules.yaml', path: 'rules[0].when', message: /unknown action class "Delete"/ }],
    ['an unknown route', (b) => (b.rules[1].route = 'cfo'), { file: 'rules.yaml', path: 'rules[1].route', message: /unknown route "cfo"/ }],
    ['an escalate rule without a route', (b) => delete b.rules[1].route, { file: 'rules.yaml', path: 'rules[1].route', message: /needs a route/ }],
    ['a route on an allow rule', (b) => (b.rules[0].route = 'manager'), { file: 'rules.yaml', path: 'rules[0].route', message: /only escalate/ }],
    ['a throttle rule without a limit', (b) => (b.rules[0].then = 'throttle'), { file: 'rules.yaml', path: 'rules[0].limit', message: /needs a limit/ }],
    ['a duplicate rule id', (b) => (b.rules[1].id = 'allow-reads'), { file: 'rules.yaml', path: 'rules[1].id', message: /duplicate id "allow-reads" \(also rules\[0\]\)/ }],
    ['a duplicate tool id', (b) => (b.tools[2].id = 'github.read_repo'), { file: 'tools.yaml', path: 'tools[2].id', message: /duplicate id/ }],
    ['a misspelt key', (b) => Object.assign(b.rules[0], { approvers: ['x'] }), { file: 'rules.yaml', path: 'rules[0]', message: /Unrecognized key: "approvers"/ }],
    ['a missing field', (b) => delete (b.rules[0] as Partial<(typeof b.rules)[0]>).then, { file: 'rules.yaml', path: 'rules[0].then', message: /^is required$/ }],
    ['an unknown outcome', (b) => Object.assign(b.rules[0], { then: 'permit' }), { file: 'rules.yaml', path: 'rules[0].then', message: /expected one of/ }],
    ['a tool of an unknown app', (b) => (b.tools[0].app = 'jira'), { file: 'tools.yaml', path: 'tools[0].app', message: /unknown app "jira"/ }],
    ['an unknown entitlement', (b) => (b.tools[3].entitlement = 'admin'), { file: 'tools.yaml', path: 'tools[3].entitlement', message: /app "payments" has no entitlement "admin"/ }],
    ['an argument schema that is not JSON Schema', (b) => (b.tools[0].arguments = { type: 'strin' }), { file: 'tools.yaml', path: 'tools[0].arguments', message: /not a valid JSON Schema/ }],
    ['a misspelt JSON Schema keyword', (b) => (b.tools[0].arguments = { type: 'object', requird: ['repo'] }), { file: 'tools.yaml', path: 'tools[0].arguments', message: /unknown keyword: "requird"/ }],
    ['an unknown approval route of an app', (b) => (b.apps[0].approvalRoute = 'cfo'), { file: 'apps.yaml', path: 'apps[0].approvalRoute', message: /unknown route "cfo"/ }],
    ['a SCIM connector without its secret', (b) => (b.apps[0].connector = { type: 'scim' }), { file: 'apps.yaml', path: 'apps[0].connector.secretRef', message: /needs a secretRef/ }],
    ['an approver that is no reference', (b) => (b.routes[0].steps[0].approvers = ['bob']), { file: 'routes.yaml', path: 'routes[0].steps[0].approvers[0]', message: /delegator.manager/ }],
    ['a test of an unknown rule', (b) => (b.tests[0].want.rule = 'nope'), { file: 'tests.yaml', path: 'tests[0].want.rule', message: /unknown rule "nope"/ }],
    ['a test at no time', (b) => (b.tests[0].input.time = 'yesterday'), { file: 'tests.yaml', path: 'tests[0].input.time', message: /ISO-8601/ }],
  ])('reports %s', (_, breakIt, want) => {
    const b = valid();
    breakIt(b);
    const errors = validateBundle(b);
    expect(errors).toContainEqual({ file: want.file, path: want.path, message: expect.stringMatching(want.message) });
  });

  it('reports every problem at once', () => {
    const b = valid();
    b.rules[0].when = 'action eq';
    b.rules[1].route = 'cfo';
    b.tools[0].app = 'jira';
    expect(validateBundle(b).map((e) => e.path)).toEqual(['tools[0].app', 'rules[0].when', 'rules[1].route']);
  });

  it('names the files the sections came from', () => {
    const b = valid();
    b.rules[0].when = 'action eq';
    expect(validateBundle(b, { rules: 'policy/rules.yaml' })[0].file).toBe('policy/rules.yaml');
  });

  it('refuses what is not a bundle', () => {
    expect(validateBundle(null)).toHaveLength(1);
    expect(validateBundle({ apps: [] }).map((e) => e.path)).toEqual(['tools', 'routes', 'rules', 'tests']);
  });

  it('makes compilePolicy throw BundleInvalidError with the errors', () => {
    const b = valid();
    b.rules[0].when = 'action eq';
    expect(() => compilePolicy(b)).toThrow(BundleInvalidError);
    try {
      compilePolicy(b);
    } catch (err) {
      expect((err as BundleInvalidError).errors).toEqual(validateBundle(b));
    }
  });
});

describe('loading a bundle folder', () => {
  const governance = path.resolve(__dirname, '../../governance');
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bundle-'));
    for (const f of readdirSync(governance)) copyFileSync(path.join(governance, f), path.join(dir, f));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the sections and ignores directory.yaml', () => {
    const { bundle, errors } = loadBundleDir(dir);
    expect(errors).toEqual([]);
    expect(Object.keys(bundle)).toEqual(['apps', 'tools', 'routes', 'rules', 'tests']);
    expect(bundle.rules.length).toBeGreaterThan(5);
  });

  it('reports a bad condition with its file and path', () => {
    writeFileSync(path.join(dir, 'tests.yaml'), 'tests: []\n');
    writeFileSync(path.join(dir, 'rules.yaml'), 'rules:\n  - { id: a, when: \'action eq "Read"\', then: allow }\n  - { id: b, when: \'action eq\', then: allow }\n');
    expect(loadBundleDir(dir).errors).toEqual([{ file: 'rules.yaml', path: 'rules[1].when', message: expect.stringMatching(/^does not parse/) }]);
  });

  it('reports YAML that does not parse, with its line', () => {
    writeFileSync(path.join(dir, 'routes.yaml'), 'routes:\n  - id: x\n   steps: [\n');
    const errors = loadBundleDir(dir).errors;
    expect(errors[0]).toMatchObject({ file: 'routes.yaml', path: '', message: expect.stringMatching(/^not valid YAML: .*line 3/) });
  });

  it('reports a missing file, a stray file and a file with the wrong key', () => {
    rmSync(path.join(dir, 'apps.yaml'));
    writeFileSync(path.join(dir, 'rule.yaml'), 'rules: []\n');
    writeFileSync(path.join(dir, 'tests.yaml'), 'cases: []\n');
    const errors = loadBundleDir(dir).errors;
    expect(errors).toEqual(
      expect.arrayContaining([
        { file: 'rule.yaml', path: '', message: expect.stringMatching(/not part of a bundle/) },
        { file: 'apps.yaml', path: '', message: 'missing' },
        { file: 'tests.yaml', path: '', message: 'must be a mapping with the one key "tests"' },
      ]),
    );
  });

  it('reports a folder that is not there', () => {
    expect(loadBundleDir(path.join(dir, 'nope')).errors).toEqual([{ file: path.join(dir, 'nope'), path: '', message: 'not a folder' }]);
  });
});
