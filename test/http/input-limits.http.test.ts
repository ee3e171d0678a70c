// Text the database cannot store (U+0000, an unpaired UTF-16 surrogate) and JSON nested deeper
// than MAX_DEPTH are refused at every surface's edge with a 400 in that surface's own format,
// changing nothing; before, they got past the schemas and failed deeper down with a 500.
import { randomUUID } from 'node:crypto';
import { MAX_DEPTH, refusedInputAt } from '../../src/http/input-limits';
import { HR_ENV, scim, signedHrEvent } from '../identity/people';
import { startStack, TOKENS, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: HR_ENV });
});
afterAll(async () => {
  await stack?.stop();
});

const NUL = 'a\u0000b';
const LONE = 'a\ud800b';

const UNSTORABLE = 'text must not contain U+0000 or an unpaired surrogate';
const TOO_DEEP = `nested deeper than ${MAX_DEPTH} levels`;
/** `levels` arrays, one inside the other, as JSON text (deeper than JSON.stringify's recursion goes). */
const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

function expectRefused(res: { status: number; headers: Headers; body: any }, path: string, reason = UNSTORABLE) {
  expect(res.status).toBe(400);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status: 400, code: 'invalid_request', detail: `${path}: ${reason}` });
}

describe('refusedInputAt', () => {
  it('finds U+0000 and unpaired surrogates in strings, keys and nested values, and nothing in other text', () => {
    expect(refusedInputAt({ a: ['ok', { b: NUL }] })).toEqual({ path: ['a', 1, 'b'], reason: UNSTORABLE });
    expect(refusedInputAt({ [NUL]: 1 })?.path).toEqual([NUL]);
    expect(refusedInputAt(['\udc00'])?.path).toEqual([0]);
    expect(refusedInputAt(LONE)?.path).toEqual([]);
    // A surrogate pair is one character (an emoji), and a backslash-u spelled out is just text.
    expect(refusedInputAt({ title: 'ship it 😀', raw: '\\u0000', n: 0, none: null, yes: true })).toBeUndefined();
  });

  it(`finds nesting deeper than ${MAX_DEPTH} levels, however deep, without overflowing the stack`, () => {
    expect(refusedInputAt(JSON.parse(nested(MAX_DEPTH)))).toBeUndefined();
    expect(refusedInputAt(JSON.parse(nested(MAX_DEPTH + 1)))).toEqual({ path: Array(MAX_DEPTH).fill(0), reason: TOO_DEEP });
    expect(refusedInputAt(JSON.parse(nested(200_000)))?.reason).toBe(TOO_DEEP);
  });
});

describe('the gateway API', () => {
  it('refuses such text in a tool call, its task or its path, and records nothing', async () => {
    const started = await stack.request('POST', '/v1/tasks', { body: { userId: 'alice', agentId: 'coding-agent', purpose: 'text' } });
    expect(started.status).toBe(201);
    const taskId = started.body.taskId as string;
    const call = (callId: string, args: Record<string, unknown>, toolId = 'github.read_repo') =>
      stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId, toolId, arguments: args } });

    expectRefused(await call('nul', { repo: NUL }), 'body.arguments.repo');
    expectRefused(await call('lone', { repo: LONE }), 'body.arguments.repo');
    expectRefused(await call('key', { repo: 'acme/api', [NUL]: 1 }), `body.arguments.${NUL}`);
    expectRefused(await call('tool', { repo: 'acme/api' }, `github.${NUL}`), 'body.toolId');
    expectRefused(await stack.request('POST', '/v1/tasks', { body: { userId: 'alice', agentId: 'coding-agent', purpose: NUL } }), 'body.purpose');
    expectRefused(await stack.request('GET', '/v1/tasks/a%00b'), 'path.taskId');
    expectRefused(await stack.request('GET', `/v1/tasks/${taskId}/tool-calls/a%00b`), 'path.callId');
    expectRefused(await stack.request('GET', `/v1/traces?filter=${encodeURIComponent(`taskId eq "${NUL}"`)}`, { token: TOKENS.admin }), 'query.filter');
    // Nested thousands deep: a 500 before (the validators' and the serializer's stack).
    const deep = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: `{"callId":"deep","toolId":"github.read_repo","arguments":{"repo":"acme/api","path":${nested(5000)}}}` });
    expectRefused(deep, `body.arguments.path.${Array(MAX_DEPTH - 2).fill(0).join('.')}`, TOO_DEEP);
    const recorded = await stack.database.db.query('select call_id from decision_traces where task_id = $1', [taskId]);
    expect(recorded).toEqual([]);

    // The same call with text that is only unusual goes through.
    const fine = await call(`ok-${randomUUID()}`, { repo: 'acme/api', path: 'docs/ship it 😀 \\u0000.md' });
    expect(fine.status).toBe(200);
    expect(fine.body.decision).toBe('allow');
  });
});

describe('what no route sees', () => {
  it('refuses a compressed body with 415 and a URL past the header limit with 431, as problem+json (SCIM: its error)', async () => {
    const body = { userId: 'alice', agentId: 'coding-agent' };
    const gzip = await stack.request('POST', '/v1/tasks', { body, headers: { 'content-encoding': 'gzip' } });
    expect([gzip.status, gzip.headers.get('content-type'), gzip.body.code]).toEqual([415, 'application/problem+json; charset=utf-8', 'unsupported_media_type']);
    const scimGzip = await scim(stack, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'gz@example.com' }, { 'content-encoding': 'gzip' });
    expect([scimGzip.status, scimGzip.body.status]).toEqual([415, '415']);
    expect(scimGzip.headers.get('content-type')).toContain('application/scim+json');
    const long = await stack.request('GET', `/v1/tasks/${'a'.repeat(100_000)}`);
    expect([long.status, long.headers.get('content-type'), long.body.code]).toEqual([431, 'application/problem+json', 'headers_too_large']);
  });
});

describe('SCIM and HR events', () => {
  it('refuses such text as a SCIM invalidValue, and in a signed HR event as problem+json, changing no one', async () => {
    const userName = `nul-${randomUUID().slice(0, 8)}@example.com`;
    const created = await scim(stack, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, displayName: NUL });
    expect(created.status).toBe(400);
    expect(created.headers.get('content-type')).toContain('application/scim+json');
    expect(created.body).toMatchObject({ status: '400', scimType: 'invalidValue', detail: 'body.displayName: text must not contain U+0000 or an unpaired surrogate' });
    expect((await scim(stack, 'GET', `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`)).body.totalResults).toBe(0);

    const event = await signedHrEvent(stack, { type: 'employee.updated', data: { userId: 'alice', title: LONE } });
    expectRefused(event, 'body.data.title');
    expect((await stack.services.directory.user('alice'))?.title).not.toBe(LONE);
  });
});
