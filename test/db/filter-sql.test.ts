// SCIM filter → SQL, checked against scim2-parse-filter's own in-memory evaluation on real rows.
import fc from 'fast-check';
import { filter as memoryFilter, parse } from 'scim2-parse-filter';
import { FilterError, scimFilterToSql, type Column } from '../../src/db/filter-sql';
import { testDatabase, type TestDatabase } from '../support/databases';

const COLUMNS: Record<string, Column> = {
  userName: { sql: 'user_name', type: 'text' },
  title: { sql: 'title', type: 'text' },
  score: { sql: 'score', type: 'integer' },
  active: { sql: 'active', type: 'boolean' },
  meta_lastModified: { sql: 'last_modified', type: 'timestamp' },
};

interface Person {
  userName: string;
  title: string | null;
  score: number;
  active: boolean;
  meta_lastModified: string;
}

const people: Person[] = [
  { userName: 'Alice', title: 'Engineer', score: 10, active: true, meta_lastModified: '2026-01-01T00:00:00.000Z' },
  { userName: 'bob', title: 'Manager', score: 20, active: false, meta_lastModified: '2026-03-01T00:00:00.000Z' },
  { userName: 'carol%', title: null, score: 30, active: true, meta_lastModified: '2026-06-01T12:00:00.000Z' },
  { userName: 'dave_x', title: 'Senior engineer', score: 5, active: true, meta_lastModified: '2025-12-31T23:59:59.000Z' },
];

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await testDatabase('pglite');
  await tdb.db.exec('create table people (user_name text, title text, score int, active boolean, last_modified timestamptz)');
  for (const p of people) {
    await tdb.db.query('insert into people values ($1, $2, $3, $4, $5)', [p.userName, p.title, p.score, p.active, p.meta_lastModified]);
  }
});
afterAll(() => tdb?.drop());

async function viaSql(filter: string): Promise<string[]> {
  const { where, params } = scimFilterToSql(filter, COLUMNS);
  const rows = await tdb.db.query<{ user_name: string }>(`select user_name from people where ${where} order by user_name`, params);
  return rows.map((r) => r.user_name);
}

/**
 * The reference: scim2-parse-filter's in-memory filter. It compares text case-sensitively, so both
 * sides are lower-cased first to get SCIM's case-insensitive (caseExact false) semantics.
 */
function inMemory(filter: string): string[] {
  const test = memoryFilter(parse(filter.replace(/"[^"]*"/g, (v) => v.toLowerCase())));
  // An absent attribute is left out: the reference crashes on a key whose value is undefined.
  const lowered = (p: Person) => ({ ...p, userName: p.userName.toLowerCase(), ...(p.title === null ? { title: undefined } : { title: p.title.toLowerCase() }) });
  const row = (p: Person) => Object.fromEntries(Object.entries(lowered(p)).filter(([, v]) => v !== undefined));
  return people.filter((p) => test(row(p))).map((p) => p.userName).sort();
}

describe('SCIM filter to SQL', () => {
  it.each([
    ['userName eq "alice"', ['Alice']],
    ['USERNAME Eq "ALICE"', ['Alice']],
    ['userName ne "alice"', ['bob', 'carol%', 'dave_x']],
    ['title co "engineer"', ['Alice', 'dave_x']],
    ['userName sw "c"', ['carol%']],
    ['userName ew "%"', ['carol%']],
    ['userName co "_"', ['dave_x']],
    ['title pr', ['Alice', 'bob', 'dave_x']],
    ['not (title pr)', ['carol%']],
    ['score gt 10', ['bob', 'carol%']],
    ['score le 10 and active eq true', ['Alice', 'dave_x']],
    ['active eq false or score ge 30', ['bob', 'carol%']],
    ['meta_lastModified gt "2026-01-01T00:00:00Z"', ['bob', 'carol%']],
    ['meta_lastModified lt "2026-01-01T00:00:00Z"', ['dave_x']],
    ['meta_lastModified ge "2026-03-01"', ['bob', 'carol%']],
    ['meta_lastModified lt "2026-01-01T01:00:00.5+01:00"', ['Alice', 'dave_x']],
    ['(userName eq "bob" or userName eq "alice") and not (active eq false)', ['Alice']],
  ])('%s', async (filter, want) => {
    expect(await viaSql(filter)).toEqual(want);
  });

  it.each([
    ['unknown attribute', 'password eq "x"', /Unknown attribute "password"/],
    ['syntax error', 'userName eq', /does not parse/],
    ['string operator on a number', 'score co "1"', /is a whole number/],
    ['a number that is no integer', 'score gt 1.5', /is a whole number/],
    ['a number past 2^53 (no bigint either)', 'score gt 1e300', /is a whole number/],
    ['a number that parses as Infinity', 'score gt 1e999', /is a whole number/],
    ['a bad date', 'meta_lastModified gt "yesterday"', /date-time/],
    ['a date PostgreSQL cannot read (year 10000)', 'meta_lastModified gt "10000-01-01"', /date-time/],
    ['a date in year 0000', 'meta_lastModified gt "0000-01-01T00:00:00Z"', /date-time/],
    ['an instant in year 0000 (UTC)', 'meta_lastModified gt "0001-01-01T00:00:00+01:00"', /date-time/],
    ['a number JavaScript would read as a date', 'meta_lastModified gt "1"', /date-time/],
    ['a time without its offset', 'meta_lastModified gt "2026-01-01T00:00:00"', /date-time/],
    ['a month that does not exist', 'meta_lastModified gt "2026-13-01"', /date-time/],
    ['a value path', 'emails[type eq "work"]', /Value paths/],
  ])('refuses %s with invalidFilter', (_what, filter, message) => {
    expect(() => scimFilterToSql(filter, COLUMNS)).toThrow(FilterError);
    expect(() => scimFilterToSql(filter, COLUMNS)).toThrow(message);
  });

  it('never puts a value into the SQL text', () => {
    const { where, params } = scimFilterToSql(`userName eq "x' or 1=1 --"`, COLUMNS);
    expect(where).not.toContain('1=1');
    expect(params).toEqual(["x' or 1=1 --"]);
  });

  it('agrees with the in-memory filter on random filters', async () => {
    const text = fc.constantFrom('alice', 'BOB', 'car', 'x', 'engineer', '%', '_');
    const leaf = fc.oneof(
      fc.tuple(fc.constantFrom('userName', 'title'), fc.constantFrom('eq', 'ne', 'co', 'sw', 'ew'), text).map(([a, op, v]) => `${a} ${op} "${v}"`),
      fc.tuple(fc.constantFrom('eq', 'ne', 'gt', 'ge', 'lt', 'le'), fc.integer({ min: 0, max: 35 })).map(([op, v]) => `score ${op} ${v}`),
      fc.boolean().map((b) => `active eq ${b}`),
      fc.constantFrom('userName pr', 'score pr'),
    );
    const expr: fc.Arbitrary<string> = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('and'), tie('or'), tie('not')),
      and: fc.tuple(tie('node'), tie('node')).map(([a, b]) => `(${a} and ${b})`),
      or: fc.tuple(tie('node'), tie('node')).map(([a, b]) => `(${a} or ${b})`),
      not: tie('node').map((a) => `not (${a})`),
    })).node as fc.Arbitrary<string>;
    await fc.assert(
      fc.asyncProperty(expr, async (f) => {
        expect(await viaSql(f)).toEqual(inMemory(f));
      }),
      { numRuns: 200 },
    );
  });
});
