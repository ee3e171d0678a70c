// The hash chain of the Decision Trace, pure: each record's hash covers its content and the
// previous record's hash, so editing, inserting or removing a record breaks every later link.
import { createHash } from 'node:crypto';
import { canonicalJson } from './digest';

export const GENESIS = '0'.repeat(64);

export interface ChainContent {
  tenant: string;
  traceId: string;
  kind: string;
  occurredAt: string;
  body: Record<string, unknown>;
}

export interface ChainRecord extends ChainContent {
  seq: number;
  prevHash: string;
  hash: string;
}

/**
 * SHA-256 of the canonical JSON of `{ seq, prevHash, tenant, traceId, kind, occurredAt, body }`.
 * `canonicalBody` is canonicalJson(c.body) when the caller has it already (the trace store writes
 * it as the row's body); the object's canonical JSON is assembled around it, keys in their sorted
 * order, exactly as canonicalJson would serialize the whole.
 */
export function recordHash(seq: number, prevHash: string, c: ChainContent, canonicalBody = canonicalJson(c.body)): string {
  const { mid, tail } = hashedAround(c.tenant, c);
  return createHash('sha256').update(`{"body":${canonicalBody}${mid}${prevHash}","seq":${canonicalJson(seq)}${tail}`).digest('hex');
}

/**
 * The hashed content's pieces that do not depend on the record's place in the chain: it reads
 * `{"body":` + body + mid + prevHash + `","seq":` + seq + tail. The trace store's group commit
 * sends them, and the database fills in the place (trace_batch_append, migration 014).
 */
export function hashedAround(tenant: string, c: Pick<ChainContent, 'kind' | 'occurredAt' | 'traceId'>): { mid: string; tail: string } {
  const str = JSON.stringify;
  return { mid: `,"kind":${str(c.kind)},"occurredAt":${str(c.occurredAt)},"prevHash":"`, tail: `,"tenant":${str(tenant)},"traceId":${str(c.traceId)}}` };
}

/** The next record after `prev` (seq 0 / GENESIS for the first); `canonicalBody` as in recordHash. */
export function link(prev: { seq: number; hash: string }, c: ChainContent, canonicalBody?: string): ChainRecord {
  const seq = prev.seq + 1;
  // Explicit fields, not `{ ...c, seq, … }`: a spread with properties after it outlives two
  // scavenges on Node 20 and is promoted (see DecisionService.evaluate); this runs per record.
  return {
    tenant: c.tenant,
    traceId: c.traceId,
    kind: c.kind,
    occurredAt: c.occurredAt,
    body: c.body,
    seq,
    prevHash: prev.hash,
    hash: recordHash(seq, prev.hash, c, canonicalBody),
  };
}

export interface ChainVerdict {
  ok: boolean;
  checked: number;
  firstBrokenId?: string;
  reason?: string;
}

/** Checks records in seq order, starting after `prev` (the genesis when undefined). */
export function verifyChain(records: ChainRecord[], prev: { seq: number; hash: string } = { seq: 0, hash: GENESIS }): ChainVerdict {
  let checked = 0;
  for (const r of records) {
    if (r.seq !== prev.seq + 1) return { ok: false, checked, firstBrokenId: r.traceId, reason: `sequence gap: expected ${prev.seq + 1}, found ${r.seq}` };
    if (r.prevHash !== prev.hash) return { ok: false, checked, firstBrokenId: r.traceId, reason: 'previous hash does not match' };
    if (recordHash(r.seq, r.prevHash, r) !== r.hash) return { ok: false, checked, firstBrokenId: r.traceId, reason: 'content does not match its hash' };
    checked++;
    prev = r;
  }
  return { ok: true, checked };
}
