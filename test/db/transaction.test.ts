// SqlClient.transaction on both engines: what commits and what rolls back, with a statement marked
// `last` (the trace's group commit) or without; and on PostgreSQL, that BEGIN travels with the
// first simple query and COMMIT with the `last` one, so such a transaction takes two round trips.
import { Client } from 'pg';
import type { SqlClient } from '../../src/db/sql';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';

describe.each(ENGINES)('transaction on %s', (engine) => {
  let tdb: TestDatabase;
  let db: SqlClient;
  beforeAll(async () => {
    tdb = await testDatabase(engine);
    db = tdb.db;
    await db.exec('create table tx_probe (id int primary key, v text not null)');
  });
  afterAll(async () => {
    await tdb?.drop();
  });
  beforeEach(async () => {
    await db.exec('delete from tx_probe');
  });
  const ids = async () => (await db.query<{ id: number }>('select id from tx_probe order by id')).map((r) => r.id);

  it('commits simple queries, the last one marked, with their rows answered', async () => {
    const answered = await db.transaction(async (tx) => {
      const [first] = await tx.simpleQuery<{ id: number }>("insert into tx_probe values (1, 'a') returning id");
      await tx.query('insert into tx_probe values ($1, $2)', [2, 'b']);
      const [last] = await tx.simpleQuery<{ n: number }>("insert into tx_probe values (3, 'c'); select count(*)::int as n from tx_probe", { last: true });
      return [first.id, last.n];
    });
    expect(answered).toEqual([1, 3]);
    expect(await ids()).toEqual([1, 2, 3]);
  });

  it('rolls back everything when the last statement fails, and when the callback throws before it', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.simpleQuery("insert into tx_probe values (1, 'a')");
        await tx.simpleQuery("insert into tx_probe values (1, 'duplicate')", { last: true });
      }),
    ).rejects.toMatchObject({ code: '23505' });
    await expect(
      db.transaction(async (tx) => {
        await tx.simpleQuery("insert into tx_probe values (2, 'b')");
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await ids()).toEqual([]);
    // The connection went back clean: the next transaction works.
    await db.transaction((tx) => tx.simpleQuery("insert into tx_probe values (4, 'd')", { last: true }));
    expect(await ids()).toEqual([4]);
  });

  it("answers a simple query of several statements with the last one's rows, in a transaction or not", async () => {
    expect(await db.simpleQuery("insert into tx_probe values (7, 'g'); select v from tx_probe where id = 7")).toEqual([{ v: 'g' }]);
    const inside = await db.transaction(async (tx) => {
      await tx.simpleQuery("select 'first'");
      return tx.simpleQuery("insert into tx_probe values (8, 'h'); select v from tx_probe where id = 8");
    });
    expect(inside).toEqual([{ v: 'h' }]);
  });

  it('commits a transaction whose first statement is parameterized, or that runs none', async () => {
    await db.transaction(async (tx) => {
      await tx.query('insert into tx_probe values ($1, $2)', [5, 'e']);
      await tx.simpleQuery("insert into tx_probe values (6, 'f')", { last: true });
    });
    expect(await db.transaction(async () => 'nothing ran')).toBe('nothing ran');
    expect(await ids()).toEqual([5, 6]);
  });
});

describe('transaction round trips on postgres', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await testDatabase('postgres');
    await tdb.db.exec('create table tx_probe (id int primary key, v text not null)');
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  /** The queries node-postgres sends while `run` runs (Pool clients are pg Clients). */
  async function sent(run: () => Promise<unknown>): Promise<string[]> {
    const texts: string[] = [];
    const original = Client.prototype.query;
    const spy = jest.spyOn(Client.prototype, 'query').mockImplementation(function (this: Client, ...args: unknown[]) {
      const q = args[0];
      texts.push(typeof q === 'string' ? q : String((q as { text?: string }).text));
      return (original as (...a: unknown[]) => never).apply(this, args);
    });
    try {
      await run();
    } finally {
      spy.mockRestore();
    }
    return texts;
  }

  it('sends BEGIN with the first simple query and COMMIT with the last: two round trips', async () => {
    const texts = await sent(() =>
      tdb.db.transaction(async (tx) => {
        await tx.simpleQuery("select 'open' as step");
        await tx.simpleQuery("insert into tx_probe values (1, 'a')", { last: true });
      }),
    );
    expect(texts).toEqual(["begin; select 'open' as step", "insert into tx_probe values (1, 'a'); commit"]);
    const [row] = await tdb.db.query<{ n: number }>('select count(*)::int as n from tx_probe');
    expect(row.n).toBe(1);
  });

  it('refuses a statement after the one that committed', async () => {
    await expect(
      tdb.db.transaction(async (tx) => {
        await tx.simpleQuery("insert into tx_probe values (2, 'b')", { last: true });
        await tx.query('select 1');
      }),
    ).rejects.toThrow('committed by its last statement');
  });
});
