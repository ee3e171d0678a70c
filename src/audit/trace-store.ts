// Appends Decision Traces to the hash chain and reads them back.
// Appends are group-committed: concurrent callers join one transaction that locks the tenant's
// chain head once, so the chain stays serial without a lock round trip per request.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { literal, type SqlClient } from '../db/sql';
import { scimFilterToSql, type Column } from '../db/filter-sql';
import { GENESIS, hashedAround, verifyChain, type ChainRecord } from './chain';
import { canonicalJson } from './digest';
import type { CheckpointSigner } from './checkpoints';
import type { TraceEntry, TraceRecord } from './trace-types';
import type { SessionIncrement, SessionState } from '../policy/session';

export interface AppendOptions {
  /**
   * Other writes that must commit atomically with this trace (grant rows, approvals): run in the
   * batch's transaction after its records are appended, for a new record only.
   */
  within?: (tx: SqlClient) => Promise<void>;
  /**
   * An allowed call counted into its task's session (tasks.session), in the batch's statement,
   * when the record is new; `after` is then set to the session as of this call.
   */
  session?: SessionIncrement;
  /**
   * A call the task workflow holds (an escalation recorded for its callId) is answered by that
   * escalation, not decided a second time (a gateway's retry reaching the in-context path).
   */
  unlessHeld?: boolean;
  /**
   * An allow decided from the task's context as read before the batch: the tool whose live grant
   * it relies on. Recorded only if that grant is still live, the task active and its person and
   * agent active when the batch holds the chain head; else nothing is recorded and the append
   * rejects with StaleContext.
   */
  fence?: string;
}

/** An allow's grant was revoked, its task ended or its person or agent deactivated after its context was read: decide it again from a fresh read. */
export class StaleContext extends Error {
  constructor(readonly taskId: string, readonly toolId: string) {
    super(`Task ${taskId}: the grant of ${toolId} was revoked, the task ended, or its person or agent was deactivated after the context the call was decided from was read.`);
  }
}

/** One group commit: how many appends it took (new or already recorded) and how long it held the database. */
export interface CommitStats {
  records: number;
  seconds: number;
}

interface Pending {
  /** With its trace id and time fixed when it was appended. */
  entry: TraceEntry & { traceId: string; occurredAt: string };
  /** Its body's canonical JSON and the rest of its hashed content (hashedAround), made when appended. */
  body: string;
  around: { mid: string; tail: string };
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

/** What `GET /v1/traces?filter=` can filter on; each maps to a generated column, most of them indexed (migrations 003, 012). */
export const TRACE_FILTER_COLUMNS: Record<string, Column> = {
  traceId: { sql: 'trace_id', type: 'text', caseExact: true },
  seq: { sql: 'seq', type: 'integer' },
  kind: { sql: 'kind', type: 'text' },
  time: { sql: 'occurred_at', type: 'timestamp' },
  occurredAt: { sql: 'occurred_at', type: 'timestamp' },
  taskId: { sql: 'task_id', type: 'text', caseExact: true },
  callId: { sql: 'call_id', type: 'text', caseExact: true },
  userId: { sql: 'user_id', type: 'text' },
  agentId: { sql: 'agent_id', type: 'text' },
  toolId: { sql: 'tool_id', type: 'text' },
  appId: { sql: 'app_id', type: 'text' },
  actionClass: { sql: 'action_class', type: 'text' },
  decision: { sql: 'decision', type: 'text' },
  reasonCode: { sql: 'reason_code', type: 'text' },
  policyVersion: { sql: 'policy_version', type: 'text', caseExact: true },
};

export interface TracePage {
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  Resources: TraceRecord[];
}

export type Verdict = { ok: boolean; checked: number; firstBrokenId?: string; reason?: string };

export const TRACE_COLUMNS = 'tenant, seq, trace_id, kind, occurred_at, body, prev_hash, hash';

export class TraceStore {
  private queue: Pending[] = [];
  private flushing?: Promise<void>;
  /** Emits every committed record of this process (`record`: telemetry's export); group commits: `onCommit`. */
  readonly appended = new EventEmitter().setMaxListeners(0);
  /** Who waits for a call's decision, by call: woken by this process's commit, without polling. */
  private readonly waiters = new Map<string, Set<(r: TraceRecord) => void>>();

  constructor(
    private readonly db: SqlClient,
    readonly tenant: string,
  ) {}

  append(entry: TraceEntry, opts: AppendOptions = {}): Promise<TraceRecord> {
    return new Promise((resolve, reject) => {
      // Serialized now, on the appending request's own turn, not in the batch: every batch waits
      // for the one before it (~6 µs a record, measured). A body that cannot be serialized is
      // refused here, alone, instead of sending its batch to the one-by-one retry.
      const fixed = { kind: entry.kind, body: entry.body, traceId: entry.traceId ?? randomUUID(), occurredAt: entry.occurredAt ?? new Date().toISOString() };
      this.queue.push({ entry: fixed, body: canonicalJson(entry.body), around: hashedAround(this.tenant, fixed), opts, resolve, reject });
      // Start on the next turn of the event loop, not now: the requests read in this turn join the
      // batch. (An embedded database answers on microtasks, so a transaction started now would run
      // to its end before the next request is even parsed: batches of one.)
      this.flushing ??= new Promise<void>((started) => setImmediate(started)).then(() => this.drain());
    });
  }

  /** Calls `listener` after every group commit of this process (metrics, the bench); returns the unsubscribe. */
  onCommit(listener: (c: CommitStats) => void): () => void {
    this.appended.on('commit', listener);
    return () => void this.appended.off('commit', listener);
  }

  /**
   * The call's decision as soon as this process commits it (a decision another process commits is
   * not seen: pair this with a poll or an answer of your own). `cancel` stops waiting.
   */
  whenDecided(taskId: string, callId: string): { decided: Promise<TraceRecord>; cancel(): void } {
    const key = keyOfCall(taskId, callId);
    let wake!: (r: TraceRecord) => void;
    const decided = new Promise<TraceRecord>((resolve) => (wake = resolve));
    const set = this.waiters.get(key) ?? this.waiters.set(key, new Set()).get(key)!;
    set.add(wake);
    const cancel = () => {
      set.delete(wake);
      if (!set.size && this.waiters.get(key) === set) this.waiters.delete(key);
    };
    return { decided, cancel };
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

  /** A SCIM-filtered page in chain order (startIndex is 1-based, as in SCIM). Throws FilterError. */
  async query(opts: { filter?: string; startIndex?: number; count?: number }): Promise<TracePage> {
    const startIndex = Math.max(1, opts.startIndex ?? 1);
    const count = Math.min(1000, Math.max(0, opts.count ?? 100));
    const where = opts.filter ? scimFilterToSql(opts.filter, TRACE_FILTER_COLUMNS, 2) : { where: 'true', params: [] };
    const params = [this.tenant, ...where.params];
    const [{ n }] = await this.db.query<{ n: number }>(`select count(*)::int as n from decision_traces where tenant = $1 and ${where.where}`, params);
    const rows = count
      ? await this.db.query<Row>(
          `select ${TRACE_COLUMNS} from decision_traces where tenant = $1 and ${where.where}
           order by seq limit ${count} offset ${startIndex - 1}`,
          params,
        )
      : [];
    return { totalResults: n, startIndex, itemsPerPage: rows.length, Resources: rows.map(rowToRecord) };
  }

  /**
   * Signs the chain head (a checkpoint), so a truncated tail is detectable: a later verify finds
   * the checkpointed record missing or changed. Returns undefined on an empty chain.
   */
  async checkpoint(signer: CheckpointSigner): Promise<{ seq: number; hash: string } | undefined> {
    const [head] = await this.db.query<{ seq: string; hash: string }>('select seq, hash from trace_chain_heads where tenant = $1', [this.tenant]);
    if (!head || Number(head.seq) === 0) return undefined;
    const at = new Date().toISOString();
    const jws = await signer.sign({ tenant: this.tenant, seq: Number(head.seq), hash: head.hash, at });
    await this.db.query('insert into trace_checkpoints (tenant, seq, hash, at, jws) values ($1, $2, $3, $4, $5) on conflict do nothing', [
      this.tenant,
      head.seq,
      head.hash,
      at,
      jws,
    ]);
    return { seq: Number(head.seq), hash: head.hash };
  }

  /**
   * Retention: hands every record up to `throughSeq` to `archive` (e.g. appends JSON lines to a
   * file), signs a checkpoint at the cut, then deletes them. What remains verifies from the
   * checkpoint; the archive verifies on its own from the genesis. Returns how many were pruned.
   */
  async prune(throughSeq: number, signer: CheckpointSigner, archive: (records: TraceRecord[]) => Promise<void>): Promise<number> {
    const [cut] = await this.db.query<Row>(`select ${TRACE_COLUMNS} from decision_traces where tenant = $1 and seq = $2`, [this.tenant, throughSeq]);
    if (!cut) throw new Error(`No record with seq ${throughSeq} in tenant ${this.tenant}.`);
    for (let after = 0; ; ) {
      const rows = await this.db.query<Row>(`select ${TRACE_COLUMNS} from decision_traces where tenant = $1 and seq > $2 and seq <= $3 order by seq limit 5000`, [
        this.tenant,
        after,
        throughSeq,
      ]);
      if (!rows.length) break;
      await archive(rows.map(rowToRecord));
      after = Number(rows[rows.length - 1].seq);
    }
    const at = new Date().toISOString();
    const jws = await signer.sign({ tenant: this.tenant, seq: throughSeq, hash: cut.hash, at });
    return this.db.transaction(async (tx) => {
      await tx.query('insert into trace_checkpoints (tenant, seq, hash, at, jws) values ($1, $2, $3, $4, $5) on conflict do nothing', [
        this.tenant,
        throughSeq,
        cut.hash,
        at,
        jws,
      ]);
      await tx.query("select set_config('agent_access.prune_tenant', $1, true), set_config('agent_access.prune_through', $2, true)", [this.tenant, String(throughSeq)]);
      const deleted = await tx.query<{ seq: string }>('delete from decision_traces where tenant = $1 and seq <= $2 returning seq', [this.tenant, throughSeq]);
      return deleted.length;
    });
  }

  /** The chain, then every signed checkpoint against it (a checkpoint past the tail: truncated). */
  async verifyWithCheckpoints(signer: CheckpointSigner): Promise<Verdict & { checkpoints: number }> {
    const chain = await this.verify();
    if (!chain.ok) return Object.assign(chain, { checkpoints: 0 });
    const cps = await this.db.query<{ seq: string; hash: string; at: Date | string; jws: string }>(
      'select seq, hash, at, jws from trace_checkpoints where tenant = $1 order by seq',
      [this.tenant],
    );
    const [bounds] = await this.db.query<{ min: string | null; max: string | null; head: string | null }>(
      `select min(seq) as min, max(seq) as max, (select seq from trace_chain_heads where tenant = $1) as head
       from decision_traces where tenant = $1`,
      [this.tenant],
    );
    const head = Number(bounds.head ?? 0);
    // All pruned: the records "end" at the last cut.
    const max = bounds.max === null ? Math.max(0, ...cps.map((c) => Number(c.seq))) : Number(bounds.max);
    const min = bounds.min === null ? max + 1 : Number(bounds.min);
    if (max !== head) {
      return { ok: false, checked: chain.checked, checkpoints: cps.length, reason: `the chain head is at seq ${head} but the records end at seq ${max}: records are missing` };
    }
    for (const cp of cps) {
      const seq = Number(cp.seq);
      const signed = await signer.verify(cp.jws).catch(() => undefined);
      if (!signed || signed.seq !== seq || signed.hash !== cp.hash || signed.tenant !== this.tenant) {
        return { ok: false, checked: chain.checked, checkpoints: cps.length, reason: `checkpoint at seq ${seq} has a bad signature` };
      }
      if (seq > max) return { ok: false, checked: chain.checked, checkpoints: cps.length, reason: `records after seq ${max} are missing: a signed checkpoint covers seq ${seq}` };
      if (seq < min) continue; // archived segment: the checkpoint at the cut anchors what remains
      const [row] = await this.db.query<{ hash: string; trace_id: string }>('select hash, trace_id from decision_traces where tenant = $1 and seq = $2', [
        this.tenant,
        seq,
      ]);
      if (row?.hash !== cp.hash) {
        return { ok: false, checked: chain.checked, checkpoints: cps.length, firstBrokenId: row?.trace_id, reason: `record at seq ${seq} differs from its signed checkpoint` };
      }
    }
    return Object.assign(chain, { checkpoints: cps.length });
  }

  /** Recomputes the whole chain of this tenant, page by page. */
  async verify(pageSize = 5000): Promise<Verdict> {
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
      if (!result.ok) return Object.assign(result, { checked: checked + result.checked });
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
          const started = performance.now();
          const records = await this.commit(batch);
          this.appended.emit('commit', { records: batch.length, seconds: (performance.now() - started) / 1000 } satisfies CommitStats);
          batch.forEach((p, i) => this.settle(p, records[i]));
        } catch {
          // One bad item must not fail its neighbours: retry the batch one by one.
          for (const p of batch) await this.commit([p]).then(([r]) => this.settle(p, r), p.reject);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** An item's answer: its record, or (left out by its fence) StaleContext. */
  private settle(p: Pending, r: TraceRecord | undefined): void {
    if (!r) return p.reject(new StaleContext(p.entry.body.taskId!, p.opts.fence!));
    p.resolve(r);
    this.committed(r);
  }

  private committed(r: TraceRecord): void {
    this.appended.emit('record', r);
    const key = decisionKey(r);
    const waiting = key ? this.waiters.get(key) : undefined;
    if (!waiting) return;
    this.waiters.delete(key!);
    for (const wake of waiting) wake(r);
  }

  /**
   * One statement (migration 014): the database locks the head, answers repeated calls from their
   * recorded rows, chains and inserts the new records, counts their sessions and moves the head,
   * and BEGIN and COMMIT travel with it, so the chain head is held for one round trip. Its values
   * go inlined as literals: on PGlite that saves a parse-and-describe exchange. `within` writes
   * follow in the same transaction, for the new records only.
   */
  private async commit(batch: Pending[]): Promise<(TraceRecord | undefined)[]> {
    const counted = [...new Set(batch.flatMap((p) => (p.opts.session ? [p.opts.session.taskId] : [])))].sort();
    const writes = batch.some((p) => p.opts.within);
    const column = <T>(of: (p: Pending) => T) => literal(batch.map(of));
    const args = [
      literal(this.tenant),
      literal(GENESIS),
      column((p) => p.body),
      column((p) => p.around.mid),
      column((p) => p.around.tail),
      column((p) => p.entry.traceId),
      column((p) => p.entry.kind),
      column((p) => p.entry.occurredAt),
      column((p) => (named(p.entry) ? p.entry.body.taskId! : null)),
      column((p) => (named(p.entry) ? p.entry.body.callId! : null)),
      column((p) => p.opts.unlessHeld === true),
      column((p) => (p.opts.session ? JSON.stringify({ taskId: p.opts.session.taskId, call: p.opts.session.call }) : null)),
      literal(counted),
      column((p) => p.opts.fence ?? null),
    ];
    return this.db.transaction(async (tx) => {
      const [{ r }] = await tx.simpleQuery<{ r: Appended }>(`select trace_batch_append(${args.join(', ')}) as r`, { last: !writes });
      // A stale item (r.stale) stays undefined.
      const out: (TraceRecord | undefined)[] = new Array(batch.length);
      let prevHash = r.hash;
      r.fresh.forEach((item, j) => {
        const p = batch[item - 1];
        const { traceId, kind, occurredAt, body } = p.entry;
        const hash = r.hashes[j];
        out[item - 1] = { tenant: this.tenant, seq: Number(r.seq) + j + 1, traceId, kind, occurredAt, body, prevHash, hash };
        prevHash = hash;
        if (p.opts.session && r.sessions[j]) p.opts.session.after = r.sessions[j]!;
      });
      for (const item in r.known) out[Number(item) - 1] = rowToRecord(r.known[item]);
      for (const item in r.same) out[Number(item) - 1] = out[r.same[item] - 1];
      if (writes) for (const item of r.fresh) await batch[item - 1].opts.within?.(tx);
      return out;
    });
  }
}

/** What trace_batch_append returns (items are 1-based positions in the batch). */
interface Appended {
  /** The head the batch started from. */
  seq: number | string;
  hash: string;
  /** The items appended, in chain order, with their hashes and their sessions after their count. */
  fresh: number[];
  hashes: string[];
  sessions: (SessionState | null)[];
  /** Items answered by a record already in the chain, or by an earlier item of this batch. */
  known: Record<string, Row>;
  same: Record<string, number>;
  /** Items left out by their fence. */
  stale: number[];
}

/** Whether the record's body names a call (its task and call id). */
function named(entry: TraceEntry): boolean {
  return Boolean(entry.body.taskId && entry.body.callId);
}

function callKey(entry: TraceEntry): string | undefined {
  return named(entry) ? keyOfCall(entry.body.taskId!, entry.body.callId!) : undefined;
}

function keyOfCall(taskId: string, callId: string): string {
  return `${taskId}\u0000${callId}`;
}

function decisionKey(entry: TraceEntry): string | undefined {
  return entry.kind === 'decision' ? callKey(entry) : undefined;
}
