// SQL literals for simple queries (the trace group commit's statements): every value comes back
// as it went in, on both engines, and values without a literal form are refused.
import fc from 'fast-check';
import { escapeLiteral } from 'pg';
import { literal } from '../../src/db/sql';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';

describe.each(ENGINES)('literal on %s', (engine) => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await testDatabase(engine);
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  it('round-trips strings an attacker would choose', async () => {
    const nasty = ["it's", "'; drop table decision_traces; --", 'back\\slash', "\\'", '$$ dollar $q$', 'ünïcödé ✓ 𝄞', 'line\nbreak\ttab', '"double"', ''];
    for (const s of nasty) {
      const [row] = await tdb.db.simpleQuery<{ v: string }>(`select ${literal(s)}::text as v`);
      expect(row.v).toBe(s);
    }
    const [arr] = await tdb.db.simpleQuery<{ v: string[] }>(`select ${literal(nasty)}::text[] as v`);
    expect(arr.v).toEqual(nasty);
    expect((await tdb.db.query<{ n: number }>('select count(*)::int as n from decision_traces'))[0].n).toBe(0);
  });

  it('types numbers, booleans, null and empty arrays by their context, as a parameter is', async () => {
    const [row] = await tdb.db.simpleQuery<Record<string, unknown>>(
      `select ${literal(42)}::bigint as n, ${literal(-1.5)}::float8 as f, ${literal(true)}::boolean as b, ${literal(null)}::text as z, ${literal([])}::text[] as e, ${literal(12n)}::int as i`,
    );
    expect(row).toEqual({ n: engine === 'postgres' ? '42' : 42, f: -1.5, b: true, z: null, e: [], i: 12 });
  });

  it('writes arrays of strings with nulls, and of booleans', async () => {
    const [row] = await tdb.db.simpleQuery<Record<string, unknown>>(
      `select ${literal(['a', null, "it's"])}::text[] as s, ${literal([null, null])}::text[] as n, ${literal([true, false])}::boolean[] as b, ${literal([])}::boolean[] as e`,
    );
    expect(row).toEqual({ s: ['a', null, "it's"], n: [null, null], b: [true, false], e: [] });
  });

});

// Pure: once, not per engine.
describe('literal', () => {
  it("quotes strings exactly as node-postgres's escapeLiteral does", () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom("'", '\\', 'a', 'é', ' ', '"', '$') }), (s) => literal(s) === escapeLiteral(s)));
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => literal(s) === escapeLiteral(s)));
  });

  it('refuses what has no literal form here', () => {
    expect(() => literal({ a: 1 })).toThrow(TypeError);
    expect(() => literal([1, 2])).toThrow(TypeError);
    expect(() => literal([true, 'a'])).toThrow(TypeError);
    expect(() => literal(Number.NaN)).toThrow(TypeError);
  });
});
