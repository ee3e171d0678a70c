// The 17 example filters of RFC 7644 §3.4.2.2 (../shared/vectors) against the users table:
// every one parses; those over attributes we map select the right people in SQL; the others are
// refused as invalidFilter (a 400), never a 500.
import fs from 'node:fs';
import path from 'node:path';
import { FilterError } from '../../src/db/filter-sql';
import type { SqlClient } from '../../src/db/sql';
import { parse } from 'scim2-parse-filter';
import { parseListQuery } from '../../src/scim/query';
import { ScimRepository } from '../../src/scim/scim-repository';
import { storedUser, userColumns } from '../../src/scim/user-resource';
import { USER } from '../../src/scim/schemas';
import { testDatabase, type TestDatabase } from '../support/databases';

const VECTORS = fs.readFileSync(path.resolve(__dirname, '../../../shared/vectors/rfc7644-filters.txt'), 'utf8').split('\n').filter(Boolean);

const PEOPLE: Record<string, Record<string, unknown>> = {
  bjensen: { userName: 'bjensen', name: { familyName: 'Jensen', givenName: 'Barbara' }, title: 'Tour Guide', userType: 'Employee', emails: [{ value: 'bjensen@example.com', type: 'work' }] },
  jomalley: { userName: 'jomalley', name: { familyName: "O'Malley" }, userType: 'Intern', emails: [{ value: 'jo@example.org', type: 'work' }] },
  jsmith: { userName: 'Jsmith', title: 'Engineer', userType: 'Contractor', emails: [{ value: 'js@other.net', type: 'home' }] },
  kim: { userName: 'kim', userType: 'Employee', emails: [{ value: 'kim@example.org', type: 'work' }] },
  lee: { userName: 'lee', title: '', userType: 'Intern' },
};
const ALL = Object.keys(PEOPLE).sort();

/** What each vector selects from PEOPLE; `invalidFilter` for attributes the users table does not map. */
const WANT: (string[] | 'invalidFilter')[] = [
  ['bjensen'],
  ['jomalley'],
  ['jomalley', 'jsmith'],
  ['jomalley', 'jsmith'],
  ['bjensen', 'jsmith'],
  ALL,
  ALL,
  [],
  [],
  ['bjensen'],
  ['bjensen', 'jomalley', 'jsmith', 'lee'],
  'invalidFilter', // schemas is multi-valued: not a column
  ['bjensen', 'kim'],
  ['jsmith', 'lee'],
  'invalidFilter', // emails.type: only the primary email's value is a column
  'invalidFilter', // value paths
  'invalidFilter',
];

let database: TestDatabase;
let db: SqlClient;
let repo: ScimRepository;
beforeAll(async () => {
  database = await testDatabase('pglite');
  db = database.db;
  repo = new ScimRepository(db);
  for (const [id, p] of Object.entries(PEOPLE)) {
    const resource = { schemas: [USER], ...p };
    await db.transaction((tx) => repo.insertUser(tx, id, userColumns(resource), storedUser(resource)));
  }
});
afterAll(async () => {
  await database?.drop();
});

const select = async (filter: string) => (await repo.listUsers(parseListQuery({ filter, count: '1000' }))).rows.map((r) => r.id).sort();

describe('RFC 7644 filter examples', () => {
  it('has the 17 published examples, and each one parses', () => {
    expect(VECTORS).toHaveLength(17);
    for (const f of VECTORS) expect(() => parse(f)).not.toThrow();
  });

  it.each(VECTORS.map((f, i) => [i + 1, f, WANT[i]] as const))('#%i %s', async (_n, filter, want) => {
    if (want === 'invalidFilter') {
      await expect(select(filter)).rejects.toBeInstanceOf(FilterError);
      await expect(select(filter)).rejects.toMatchObject({ scimType: 'invalidFilter' });
    } else {
      expect(await select(filter)).toEqual(want);
    }
  });

  it('compares attribute names and string values case-insensitively', async () => {
    expect(await select('USERNAME EQ "BJENSEN"')).toEqual(['bjensen']);
    expect(await select('emails.VALUE ew "EXAMPLE.ORG"')).toEqual(['jomalley', 'kim']);
  });

  it('reads grouping, then not, and, or in that order', async () => {
    expect(await select('userType eq "Intern" or userType eq "Employee" and title pr')).toEqual(['bjensen', 'jomalley', 'lee']);
    expect(await select('(userType eq "Intern" or userType eq "Employee") and title pr')).toEqual(['bjensen']);
    expect(await select('not (userType eq "Intern") and not (title pr)')).toEqual(['kim']);
  });

  it('refuses malformed filters and bad comparisons as invalidFilter', async () => {
    for (const f of ['userName eq', 'userName zz "x"', 'active eq "yes"', 'meta.created gt "yesterday"', 'nickName eq "x"']) {
      await expect(select(f)).rejects.toBeInstanceOf(FilterError);
    }
  });
});
