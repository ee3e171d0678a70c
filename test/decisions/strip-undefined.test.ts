// What a trace body and a gateway's answer keep: every defined field, in order, and nothing undefined.
import { stripUndefined } from '../../src/decisions/decision-service';

describe('stripUndefined', () => {
  it('drops undefined fields and keeps the rest (null, false, 0 and empty strings too) in their order', () => {
    const input = { b: 1, a: undefined, c: null, d: false, e: 0, f: '', g: { h: undefined } };
    const out = stripUndefined(input);
    expect(Object.keys(out)).toEqual(['b', 'c', 'd', 'e', 'f', 'g']);
    expect(out).toEqual({ b: 1, c: null, d: false, e: 0, f: '', g: { h: undefined } });
    // A copy: the caller's object is unchanged, nested values are shared, not stripped.
    expect('a' in input).toBe(true);
    expect(out.g).toBe(input.g);
  });

  it('serializes as JSON.stringify would have written the original', () => {
    const input = { callId: 'c1', decision: 'deny', reason: { code: 'x', message: 'y' }, retryAfterMs: undefined, credentialRef: undefined };
    expect(JSON.stringify(stripUndefined(input))).toBe(JSON.stringify(input));
  });
});
