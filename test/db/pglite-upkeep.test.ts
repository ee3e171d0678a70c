// PGlite never checkpoints nor vacuums on its own (single-user PostgreSQL): the client does, so
// the WAL stays bounded on disk, a restart after a crash replays little, and transaction ids never
// run towards wraparound.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CHECKPOINT_EVERY_BYTES, PgliteClient, type UpkeepStep } from '../../src/db/pglite-client';
import { migrate } from '../../src/db/migrate';
import { Metrics } from '../../src/health/metrics';

const MiB = 2 ** 20;

async function walSinceCheckpoint(db: PgliteClient): Promise<number> {
  const [{ bytes }] = await db.query<{ bytes: string }>(
    'select (pg_current_wal_insert_lsn() - (select redo_lsn from pg_control_checkpoint()))::bigint as bytes',
  );
  return Number(bytes);
}

const redo = async (db: PgliteClient) => (await db.query<{ lsn: string }>('select redo_lsn::text as lsn from pg_control_checkpoint()'))[0].lsn;

/** About `mib` MiB of WAL: rows of ~2 kB that do not compress (below TOAST's threshold). */
async function writeWal(db: PgliteClient, mib: number): Promise<void> {
  await db.exec('create table if not exists filler (id bigserial primary key, body text)');
  const position = async () => Number((await db.query<{ b: string }>("select (pg_current_wal_insert_lsn() - '0/0')::bigint as b"))[0].b);
  const target = (await position()) + mib * MiB;
  while ((await position()) < target) {
    await db.exec(`insert into filler (body) select repeat(md5(random()::text), 60) from generate_series(1, 2000)`);
  }
}

/** Waits (up to 10 s) until the client's own check has checkpointed what was written. */
async function checkpointed(db: PgliteClient): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await walSinceCheckpoint(db)) >= CHECKPOINT_EVERY_BYTES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(await walSinceCheckpoint(db)).toBeLessThan(CHECKPOINT_EVERY_BYTES);
}

const segments = (dir: string) => fs.readdirSync(path.join(dir, 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;

const xidAge = async (db: PgliteClient) =>
  (await db.query<{ age: number }>('select age(datfrozenxid) as age from pg_database where datname = current_database()'))[0].age;

describe('PGlite upkeep', () => {
  let dir: string;
  let db: PgliteClient;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aao-pglite-ckpt-'));
    db = await PgliteClient.open(dir);
  });

  afterEach(async () => {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('checkpoints on its own once a segment of WAL has accumulated, not before', async () => {
    const first = await redo(db);
    await writeWal(db, 8);
    await new Promise((r) => setTimeout(r, 2500)); // two checks
    expect(await redo(db)).toBe(first);
    await writeWal(db, 9);
    await checkpointed(db);
    expect(await redo(db)).not.toBe(first);
  }, 60_000);

  it('freezes what was written, so transaction ids do not age towards wraparound; metrics show both', async () => {
    await migrate(db); // the other gauges of observeDatabase read its tables
    const metrics = new Metrics();
    metrics.observeDatabase(db);
    metrics.observeDatabaseUpkeep(db);
    const steps: UpkeepStep['step'][] = [];
    const unsubscribe = db.onUpkeep((u) => steps.push(u.step));
    await db.exec('create table counter (n int)');
    for (let i = 0; i < 300; i++) await db.exec(`insert into counter values (${i})`); // a transaction id each
    expect(await xidAge(db)).toBeGreaterThanOrEqual(300);
    const gauge = async () => Number(/^agent_access_database_xid_age (\d+)$/m.exec(await metrics.registry.metrics())?.[1]);
    expect(await gauge()).toBeGreaterThanOrEqual(300);
    await writeWal(db, 17);
    await checkpointed(db);
    // Only what ran after the freeze still counts (writeWal's last inserts at most).
    expect(await xidAge(db)).toBeLessThan(50);
    expect(steps).toEqual(['freeze', 'checkpoint']);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^agent_access_database_upkeep_seconds_count\{step="freeze"\} 1$/m);
    expect(text).toMatch(/^agent_access_database_upkeep_seconds_count\{step="checkpoint"\} 1$/m);
    expect(await gauge()).toBeLessThan(50);
    unsubscribe();
  }, 60_000);

  it('keeps the WAL on disk bounded: segments are recycled instead of piling up', async () => {
    const counts: number[] = [];
    for (let round = 0; round < 6; round++) {
      await writeWal(db, 20);
      await checkpointed(db);
      counts.push(segments(dir));
    }
    // 120 MiB written; without checkpoints pg_wal would hold all of it (8 segments and growing).
    expect(Math.max(...counts.slice(2))).toBeLessThanOrEqual(counts[1]);
    expect(counts[5]).toBeLessThan(120 / 16);
  }, 120_000);
});
