// `npm run policy -- check|test|diff|backtest` on bundle folders in a temp dir, and backtest over
// Decision Traces in an in-memory PGlite.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TraceStore } from '../../src/audit/trace-store';
import { openDatabase } from '../../src/db/open-database';
import { runCli } from '../../src/policy/cli';
import { compilePolicy } from '../../src/policy/compile';
import { loadBundleDir } from '../../src/policy/load-bundle';
import { decisionBody } from './records';

const governance = path.resolve(__dirname, '../../governance');
let root: string;

function bundleCopy(name: string, edit: (file: string, text: string) => string = (_, t) => t): string {
  const dir = path.join(root, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  for (const f of readdirSync(governance)) {
    if (f === 'directory.yaml') copyFileSync(path.join(governance, f), path.join(dir, f));
    else writeFileSync(path.join(dir, f), edit(f, readFileSync(path.join(governance, f), 'utf8')));
  }
  return dir;
}

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'policy-cli-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('policy check', () => {
  it('prints OK and the version of a valid bundle', async () => {
    const r = await run('check', bundleCopy('ok'));
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe(`OK ${compilePolicy(loadBundleDir(governance).bundle).version}`);
    expect(r.out[1]).toMatch(/5 apps, 10 tools, 3 routes, 15 rules \(1 shadow\), 16 tests/);
  });

  it('prints each error with its file and path, and fails', async () => {
    const dir = bundleCopy('bad', (f, t) => (f === 'rules.yaml' ? t.replace("'action eq \"Destructive\"'", "'action eq'").replace('route: manager', 'route: cfo') : t));
    const r = await run('check', dir);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([
      `${dir}: 2 error(s)`,
      expect.stringMatching(/^ {2}rules\.yaml rules\[5\]\.when: does not parse: /),
      '  rules.yaml rules[5].route: unknown route "cfo"',
    ]);
  });
});

describe('policy test', () => {
  it('runs the bundle’s cases and passes', async () => {
    const r = await run('test', bundleCopy('ok'));
    expect(r.code).toBe(0);
    expect(r.out.filter((l) => l.startsWith('PASS '))).toHaveLength(16);
    expect(r.out.at(-1)).toMatch(/^16 passed, 0 failed \(sha256:/);
  });

  it('names a failing case with what it wanted and what it got, and fails', async () => {
    const dir = bundleCopy('failing', (f, t) => (f === 'tests.yaml' ? t.replace('want: { decision: allow, rule: allow-github-write }', 'want: { decision: escalate }') : t));
    const r = await run('test', dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAIL an engineer opens a pull request: want escalate, got allow (rule allow-github-write)');
    expect(r.out.at(-1)).toMatch(/^15 passed, 1 failed/);
  });
});

describe('policy diff', () => {
  it('lists what was added, removed and changed, by id', async () => {
    const a = bundleCopy('a');
    const b = bundleCopy('b', (f, t) => {
      if (f === 'rules.yaml') return t.replace('max: 100', 'max: 50').replace(/ {2}- id: allow-wiki-edit-employees[\s\S]*?then: allow\n\n/, '');
      if (f === 'routes.yaml') return `${t}\n  - id: cfo\n    steps:\n      - { approvers: ['user:carol'], timeoutSeconds: 600 }\n`;
      return t;
    });
    const r = await run('diff', a, b);
    expect(r.code).toBe(0);
    expect(r.out.slice(2)).toEqual(['  + routes cfo', '  - rules allow-wiki-edit-employees', '  ~ rules throttle-repo-reads (limit)']);
    expect(r.out[0]).toMatch(/^from sha256:/);
    expect(r.out[1]).toMatch(/^to {3}sha256:/);
  });

  it('says when two bundles are the same', async () => {
    const r = await run('diff', bundleCopy('a'), bundleCopy('same'));
    expect(r.out.at(-1)).toBe('no changes');
  });

  it('notices rules that swapped places', async () => {
    const b = bundleCopy('swapped', (f, t) =>
      f === 'rules.yaml' ? t.replace(/( {2}- id: escalate-external-after-customer-data[\s\S]*?)( {2}- id: escalate-customer-export[\s\S]*?route: app-owner\n\n)/, '$2$1') : t,
    );
    const r = await run('diff', bundleCopy('a'), b);
    expect(r.out.slice(2)).toEqual(['  rule order changed (the first matching escalate rule picks the route)']);
  });
});

// PGlite loads its WebAssembly with a dynamic import, which jest allows only under
// --experimental-vm-modules (`npm run test:unit` sets it).
const withPglite = (process.env.NODE_OPTIONS ?? '').includes('--experimental-vm-modules') ? it : it.skip;

describe('policy backtest', () => {
  withPglite('re-decides the recorded decisions of a window with a candidate bundle', async () => {
    const db = await openDatabase({});
    try {
      const current = compilePolicy(loadBundleDir(governance).bundle);
      const store = new TraceStore(db, 'default');
      const alice = { id: 'alice', userType: 'Employee', department: 'Engineering', active: true, groups: ['engineering'] };
      const agent = { id: 'coding-agent', owner: 'alice' };
      for (const [toolId, args, time] of [
        ['github.create_pr', { repo: 'acme/api', title: 't', head: 'h' }, '2025-03-04T10:00:00.000Z'],
        ['github.create_pr', { repo: 'acme/api', title: 't', head: 'h' }, '2025-03-05T10:00:00.000Z'],
        ['payments.refund', { amount: 5, orderId: 'o' }, '2025-03-05T11:00:00.000Z'],
      ] as const) {
        await store.append({ kind: 'decision', occurredAt: time, body: decisionBody(current, { user: alice, agent, toolId, args, taskId: 't-1', time }) });
      }
      const candidate = bundleCopy('candidate', (f, t) => (f === 'rules.yaml' ? t.replace("app.id eq \"github\" and action eq \"Write\"", 'app.id eq "github" and action eq "Write" and user.groups eq "release"') : t));
      const out: string[] = [];
      const code = await runCli(['backtest', candidate, '--since', '2025-03-05T00:00:00Z'], { out: (l) => out.push(l), err: (l) => out.push(l) }, { traces: async () => ({ db, tenant: 'default' }) });
      expect(code).toBe(0);
      expect(out[1]).toBe(`decisions 2025-03-05T00:00:00Z .. now: 2 (made by ${current.version})`);
      expect(out.slice(2, 5)).toEqual(['  replayed 1, would change 1', '  not replayable (args not recorded): 1', '  no_rule_allows: allow -> deny x1']);
      expect(out[5]).toMatch(/^ {4}e\.g\. 2025-03-05T10:00:00\.000Z trace \S+ task t-1 alice github\.create_pr \(was allow-github-write\)$/);
    } finally {
      await db.close();
    }
  });
});

describe('usage', () => {
  it.each([[[]], [['frobnicate']], [['check']], [['diff', 'a']], [['backtest', 'x', '--since', 'yesterday']], [['check', 'x', '--verbose']]])('refuses %j with the usage', async (argv) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain('usage: npm run policy -- <command>');
  });
});
