// Rule conditions: every SCIM filter operator over the evaluation document, the RFC's own
// examples, and which rules the index may skip.
import { compileFilter, filterText, indexKey, instant, parseFilter } from '../../src/policy/filter';
import { loadCases, rfc7644Filters } from './cases';

interface FilterCases {
  document: Record<string, unknown>;
  cases: { note: string; filter: string; want: boolean }[];
}

const { document, cases } = loadCases<FilterCases>('filters.yaml');

describe('a rule condition', () => {
  it.each(cases)('$note: $filter', ({ filter, want }) => {
    expect(compileFilter(parseFilter(filter))(document)).toBe(want);
  });

  it('covers every operator', () => {
    const used = new Set(cases.flatMap((c) => c.filter.toLowerCase().match(/\b(eq|ne|co|sw|ew|gt|ge|lt|le|pr|and|or|not)\b/g) ?? []));
    expect([...used].sort()).toEqual(['and', 'co', 'eq', 'ew', 'ge', 'gt', 'le', 'lt', 'ne', 'not', 'or', 'pr', 'sw']);
  });

  it('does not read a property of the prototype', () => {
    expect(compileFilter(parseFilter('args.constructor pr'))({ args: {} })).toBe(false);
    expect(compileFilter(parseFilter('args.toString pr'))({ args: {} })).toBe(false);
  });
});

describe('the RFC 7644 §3.4.2.2 examples', () => {
  const filters = rfc7644Filters();

  it('are all there', () => {
    expect(filters).toHaveLength(17);
  });

  it.each(filters)('parse and compile: %s', (text) => {
    const predicate = compileFilter(parseFilter(text));
    expect(typeof predicate({})).toBe('boolean');
  });

  it('decide as the RFC means on its example user', () => {
    const bjensen = {
      userName: 'bjensen',
      userType: 'Employee',
      title: 'Tour Guide',
      name: { familyName: "O'Malley" },
      emails: [{ value: 'bjensen@example.com', type: 'work' }],
      meta: { lastModified: '2011-05-13T04:42:34Z' },
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
    };
    const holds = filters.filter((f) => compileFilter(parseFilter(f))(bjensen));
    expect(holds).toEqual([
      'userName eq "bjensen"',
      'name.familyName co "O\'Malley"',
      'title pr',
      'meta.lastModified ge "2011-05-13T04:42:34Z"',
      'meta.lastModified le "2011-05-13T04:42:34Z"',
      'title pr and userType eq "Employee"',
      'title pr or userType eq "Intern"',
      'schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"',
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
      'userType eq "Employee" and (emails.type eq "work")',
      'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
      'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
    ]);
  });
});

describe('a filter that does not parse', () => {
  it.each(['', 'user.department eq', 'user.department eq "x" and', '(action eq "Read"', 'action is "Read"', 'action eq Read'])('is refused: %p', (text) => {
    expect(() => parseFilter(text)).toThrow();
  });
});

describe('the rule index', () => {
  it.each([
    ['tool.id eq "a.x"', 'tool', ['a.x'], undefined],
    ['Tool.Id EQ "a.x" and user.department eq "Eng"', 'tool', ['a.x'], 'user.department eq "Eng"'],
    ['app.id eq "a" and (user.x eq 1 and tool.id eq "a.y")', 'tool', ['a.y'], 'app.id eq "a" and user.x eq 1'],
    ['tool.app eq "a"', 'app', ['a'], undefined],
    ['action eq "Destructive" and app.id eq "a"', 'app', ['a'], 'action eq "Destructive"'],
    ['action eq "Destructive" and session.actions.Destructive ge 3', 'action', ['Destructive'], 'session.actions.Destructive ge 3'],
    ['(tool.id eq "a.x" or tool.id eq "a.y") and user.active eq true', 'tool', ['a.x', 'a.y'], 'user.active eq true'],
  ])('indexes %s by %s %j, leaving %s to check', (text, attr, values, rest) => {
    const key = indexKey(parseFilter(text));
    expect(key).toMatchObject({ attr, values });
    expect(key?.rest && filterText(key.rest)).toBe(rest);
  });

  it.each([
    'user.department eq "Eng"',
    'tool.id eq "a.x" or user.department eq "Eng"',
    'not (tool.id eq "a.x")',
    'tool.id ne "a.x"',
    'tool.id sw "a."',
    'tool.id eq "a.x" or app.id eq "b"',
    'tool[id eq "a.x"]',
  ])('checks %s for every call', (text) => {
    expect(indexKey(parseFilter(text))).toBeUndefined();
  });
});

describe('an ISO-8601 instant', () => {
  it.each([
    ['2025-03-04T10:00:00Z', Date.UTC(2025, 2, 4, 10)],
    ['2025-03-04T12:00:00+02:00', Date.UTC(2025, 2, 4, 10)],
    ['2025-03-04T10:00:00.250Z', Date.UTC(2025, 2, 4, 10, 0, 0, 250)],
    ['2025-03-04T10:00', Date.UTC(2025, 2, 4, 10)],
    ['2025-03-04', Date.UTC(2025, 2, 4)],
  ])('reads %s', (s, ms) => {
    expect(instant(s)).toBe(ms);
  });

  it.each(['1', '2025', 'acme/api', '2025-13-45', 'March 4, 2025', '2025-03-04 10:00:00'])('is not %p', (s) => {
    expect(instant(s)).toBeUndefined();
  });
});
