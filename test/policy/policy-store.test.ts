// The policy store over a real database: a version published elsewhere is picked up by refresh, and
// a reload in this process is not undone by a refresh whose read was on its way meanwhile.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PolicyStore } from '../../src/policy/policy-store';
import type { SqlClient } from '../../src/db/sql';
import { withRuleFirst } from '../support/context-world';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';

describe.each(ENGINES)('policy store on %s', (engine) => {
  let database: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    database = await testDatabase(engine);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-store-'));
    fs.cpSync(path.resolve(__dirname, '../../governance'), dir, { recursive: true });
  });
  afterAll(async () => {
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const rulesFile = () => path.join(dir, 'rules.yaml');
  /** The bundle with one more rule first: another version. */
  const anotherVersion = (id: string) =>
    fs.writeFileSync(rulesFile(), withRuleFirst(fs.readFileSync(rulesFile(), 'utf8'), { id, when: 'tool.id eq "wiki.edit_page"', then: 'deny', reason: { code: 'test', message: 'No.' } }));

  it('picks up a version another replica published', async () => {
    const here = new PolicyStore(database.db, dir);
    const there = new PolicyStore(database.db, dir);
    await here.reload();
    anotherVersion('test-published');
    const published = await there.reload();
    expect(here.active().version).not.toBe(published.version);
    await here.refresh();
    expect(here.active().version).toBe(published.version);
  });

  it('keeps a reload made while a refresh read the version before it', async () => {
    // The refresh's read of policy_active is answered, then held until released.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let read!: () => void;
    const wasRead = new Promise<void>((r) => (read = r));
    const gated = new Proxy(database.db, {
      get(target, key) {
        if (key !== 'query') return Reflect.get(target, key, target);
        return async (text: string, params?: unknown[]) => {
          const rows = await target.query(text, params);
          if (text.startsWith('select version from policy_active')) {
            read();
            await held;
          }
          return rows;
        };
      },
    }) as SqlClient;
    const store = new PolicyStore(gated, dir);
    await new PolicyStore(database.db, dir).reload();
    anotherVersion('test-reloaded');
    const refreshing = store.refresh();
    await wasRead;
    const reloaded = await store.reload();
    release();
    await refreshing;
    // Before: the refresh put the version it had read back for up to a second.
    expect(store.active().version).toBe(reloaded.version);
  });
});
