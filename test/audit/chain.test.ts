// The record hash is assembled around the body's canonical JSON (so the trace store serializes a
// body once, for the hash and for its row); it must stay the hash of the canonical JSON of the
// whole record, as it always was: records already chained would no longer verify otherwise.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { GENESIS, link, recordHash, verifyChain, type ChainContent } from '../../src/audit/chain';
import { canonicalJson } from '../../src/audit/digest';

/** The definition: SHA-256 of the canonical JSON of the record without its hash. */
const definition = (seq: number, prevHash: string, c: ChainContent) =>
  createHash('sha256')
    .update(canonicalJson({ seq, prevHash, tenant: c.tenant, traceId: c.traceId, kind: c.kind, occurredAt: c.occurredAt, body: c.body }))
    .digest('hex');

const text = fc.string({ unit: 'binary', maxLength: 12 });
const content: fc.Arbitrary<ChainContent> = fc.record({
  tenant: text,
  traceId: text,
  kind: text,
  occurredAt: text,
  body: fc.dictionary(text, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 }) as fc.Arbitrary<Record<string, unknown>>,
});

describe('record hash', () => {
  it('is the hash of the canonical JSON of the whole record, with or without the canonical body given', () => {
    fc.assert(
      fc.property(fc.nat(), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }), content, (seq, prevHash, c) => {
        const expected = definition(seq, prevHash, c);
        expect(recordHash(seq, prevHash, c)).toBe(expected);
        expect(recordHash(seq, prevHash, c, canonicalJson(c.body))).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('is unchanged for a known record (a chain written before stays verifiable)', () => {
    const c = { tenant: 'default', traceId: 't-1', kind: 'decision', occurredAt: '2026-05-01T00:00:00.000Z', body: { taskId: 't', callId: 'c', é: ['\u2028', 1.5e-7, null] } };
    // Computed by the implementation that canonicalized the whole record in one go.
    expect(recordHash(1, GENESIS, c)).toBe('2c2b884b93fbd4d36d8c95ee56f64b11249330bc52c21595e4d740052c4e9aca');
    const first = link({ seq: 0, hash: GENESIS }, c);
    const second = link(first, { ...c, traceId: 't-2' }, canonicalJson(c.body));
    expect(verifyChain([first, second])).toEqual({ ok: true, checked: 2 });
  });
});
