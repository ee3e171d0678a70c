// Appends Decision Traces to the hash chain and reads them back.
// Appends are group-committed: concurrent callers join one transaction that locks the tenant's
// chain head once, so the chain stays serial without a lock round trip per request.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { SqlClient } from '../db/sql';
import { GENESIS, link, verifyChain, type ChainRecord } from './chain';
import type { TraceEntry, TraceRecord } from './trace-types';

export interface AppendOptions {
  /** Other writes that must commit atomically with this trace (grant rows, session counters). */
  within?: (tx: SqlClient) => Promise<void>;
}

interface Pending {
  entry: TraceEntry;
  opts: AppendOptions;
  resolve: (r: TraceRecord) => void;
  reject: (e: unknown) => void;
}

const MAX_BATCH = 200;

interface Row {
  tenant: string;
  seq: string | number;
  trace_id: string;
  kind: string;
  occurred_at: Date | string;
  body: TraceRecord['body'];
  prev_hash: string;
  hash: string;
}

export function rowToRecord(r: Row): TraceRecord {
  return {
    tenant: r.tenant,
    seq: Number(r.seq),
    traceId: r.trace_id,
    kind: r.kind as TraceRecord['kind'],
    occurredAt: new Date(r.occurred_at).toISOString(),
    body: r.body,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export const TRACE_COLUMNS = 'tenant, seq, trace_id, kind, occurred_at, body, prev_hash, hash';

export class TraceStore {
  private queue: Pending[] = [];
  private flushing?: Promise<void>;
  /** Emits every committed record of this process (waiting gateways wake without polling). */
  readonly appended = new EventEmitter().setMaxListeners(0);

  constructor(
    private readonly db: SqlClient,
    readonly tenant: string,
  ) {}

  append(entry: TraceEntry, opts: AppendOptions = {}): Promise<TraceRecord> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, opts, resolve, reject });
      this.flushing ??= this.drain();
    });
  }

  /** A decision already recorded for this call, if any (idempotent callIds). */
  async findDecision(taskId: string, callId: string): Promise<TraceRecord | undefined> {
    const rows = await this.db.query<Row>(
      `select ${TRACE_COLUMNS} from decision_traces where kind = 'decision' and task_id = $1 and call_id = $2`,
      [taskId, callId],
    );
    return rows[0] && rowToRecord(rows[0]);
  }

  /** The decision of a call, else its escalation (the call is pending). */
  async findCall(taskId: string, callId: string): Promise<TraceRecord | undefined> {
    const rows = await this.db.query<Row>(
      `select ${TRACE_COLUMNS} from decision_traces where task_id = $1 and call_id = $2 and kind in ('decision', 'escalation')
       order by (kind = 'decision') desc, seq desc limit 1`,
      [taskId, callId],
    );
    return rows[0] && rowToRecord(rows[0]);
  }

  async get(traceId: string): Promise<TraceRecord | undefined> {
    const rows = await this.db.query<Row>(`select ${TRACE_COLUMNS} from decision_traces where tenant = $1 and trace_id = $2`, [
      this.tenant,
      traceId,
    ]);
    return rows[0] && rowToRecord(rows[0]);
  }

  /** Recomputes the whole chain of this tenant, page by page. */
  async verify(pageSize = 5000): Promise<{ ok: boolean; checked: number; firstBrokenId?: string; reason?: string }> {
    let checked = 0;
    let prev: { seq: number; hash: string } | undefined;
    const first = await this.db.query<{ seq: string; hash: string }>(
      'select seq, hash from trace_checkpoints where tenant = $1 and seq = (select min(seq) - 1 from decision_traces where tenant = $1)',
      [this.tenant],
    );
    if (first[0]) prev = { seq: Number(first[0].seq), hash: first[0].hash };
    for (let after = prev?.seq ?? 0; ; ) {
      const rows = await this.db.query<Row>(
        `select ${TRACE_COLUMNS} from decision_traces where tenant = $1 and seq > $2 order by seq limit $3`,
        [this.tenant, after, pageSize],
      );
      if (!rows.length) break;
      const records = rows.map(rowToRecord) as ChainRecord[];
      const result = verifyChain(records, prev);
      if (!result.ok) return { ...result, checked: checked + result.checked };
      checked += records.length;
      const last = records[records.length - 1];
      prev = { seq: last.seq, hash: last.hash };
      after = last.seq;
    }
    return { ok: true, checked };
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          const records = await this.commit(batch);
          batch.forEach((p, i) => p.resolve(records[i]));
          records.forEach((r) => this.appended.emit('record', r));
        } catch {
          // One bad item must not fail its neighbours: retry the batch one by one.
          for (const p of batch) {
            await this.commit([p]).then(([r]) => {
              p.resolve(r);
              this.appended.emit('record', r);
            }, p.reject);
          }
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private commit(batch: Pending[]): Promise<TraceRecord[]> {
    return this.db.transaction(async (tx) => {
      await tx.query('insert into trace_chain_heads (tenant, seq, hash) values ($1, 0, $2) on conflict do nothing', [this.tenant, GENESIS]);
      const [head] = await tx.query<{ seq: string; hash: string }>('select seq, hash from trace_chain_heads where tenant = $1 for update', [
        this.tenant,
      ]);
      const existing = await this.existingDecisions(tx, batch);
      let prev = { seq: Number(head.seq), hash: head.hash };
      const out: TraceRecord[] = [];
      const fresh: TraceRecord[] = [];
      for (const p of batch) {
        const key = decisionKey(p.entry);
        const known = key ? existing.get(key) : undefined;
        if (known) {
          out.push(known);
          continue;
        }
        const record = link(prev, {
          tenant: this.tenant,
          traceId: randomUUID(),
          kind: p.entry.kind,
          occurredAt: p.entry.occurredAt ?? new Date().toISOString(),
          body: p.entry.body,
        }) as TraceRecord;
        prev = { seq: record.seq, hash: record.hash };
        if (key) existing.set(key, record);
        out.push(record);
        fresh.push(record);
        if (p.opts.within) await p.opts.within(tx);
      }
      if (fresh.length) {
        const params: unknown[] = [];
        const values = fresh.map((r) => {
          params.push(r.tenant, r.seq, r.traceId, r.kind, r.occurredAt, JSON.stringify(r.body), r.prevHash, r.hash);
          const n = params.length;
          return `($${n - 7}, $${n - 6}, $${n - 5}, $${n - 4}, $${n - 3}, $${n - 2}::jsonb, $${n - 1}, $${n})`;
        });
        await tx.query(`insert into decision_traces (${TRACE_COLUMNS}) values ${values.join(', ')}`, params);
        await tx.query('update trace_chain_heads set seq = $2, hash = $3 where tenant = $1', [this.tenant, prev.seq, prev.hash]);
      }
      return out;
    });
  }

  private async existingDecisions(tx: SqlClient, batch: Pending[]): Promise<Map<string, TraceRecord>> {
    const found = new Map<string, TraceRecord>();
    const keys = batch.filter((p) => decisionKey(p.entry)).map((p) => [p.entry.body.taskId!, p.entry.body.callId!]);
    if (!keys.length) return found;
    const rows = await tx.query<Row>(
      `select ${TRACE_COLUMNS} from decision_traces
        where kind = 'decision' and (task_id, call_id) in (select * from unnest($1::text[], $2::text[]))`,
      [keys.map((k) => k[0]), keys.map((k) => k[1])],
    );
    for (const r of rows) {
      const rec = rowToRecord(r);
      found.set(`${rec.body.taskId}\u0000${rec.body.callId}`, rec);
    }
    return found;
  }
}

function decisionKey(entry: TraceEntry): string | undefined {
  return entry.kind === 'decision' && entry.body.taskId && entry.body.callId ? `${entry.body.taskId}\u0000${entry.body.callId}` : undefined;
}
