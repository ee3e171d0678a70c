// Canonical JSON feeds every trace hash and approval binding: a different serialization of the same
// value would break every chain and signature written before it. `canonicalize` (the RFC 8785
// implementation this replaced) is the reference.
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { argsDigest, canonicalJson } from '../../src/audit/digest';

const key = fc.string({ unit: 'binary', maxLength: 8 });

describe('canonicalJson', () => {
  it('writes any JSON value exactly as the reference RFC 8785 implementation does', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => expect(canonicalJson(v)).toBe(canonicalize(v))),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 12 }), (v) => expect(canonicalJson(v)).toBe(canonicalize(v))),
      { numRuns: 5000 },
    );
  });

  it('orders keys by UTF-16 code units and writes numbers and strings as JSON does', () => {
    const value = { '\uff00': 5, é: 1, e: 2, Z: 3, '\u{1F600}': 4, n: [1e21, 1.5e-7, -0, 0.1], s: '\u2028\ud800"\n', skipped: undefined, d: new Date(0) };
    expect(canonicalJson(value)).toBe(
      '{"Z":3,"d":"1970-01-01T00:00:00.000Z","e":2,"n":[1e+21,1.5e-7,0,0.1],"s":"\u2028\\ud800\\"\\n","é":1,"😀":4,"＀":5}',
    );
    expect(canonicalJson(undefined)).toBe('null');
  });

  it('refuses what JSON cannot hold instead of writing it some other way', () => {
    expect(() => canonicalJson({ amount: NaN })).toThrow();
    expect(() => canonicalJson([Infinity])).toThrow();
    expect(() => canonicalJson({ f: () => 1 })).toThrow();
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => canonicalJson(loop)).toThrow();
  });

  it('gives the same digest whatever the key order', () => {
    expect(argsDigest({ b: [1, { y: 2, x: 1 }], a: 'x' })).toBe(argsDigest({ a: 'x', b: [1, { x: 1, y: 2 }] }));
    expect(argsDigest({ a: 1 })).toBe('sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862');
  });
});
