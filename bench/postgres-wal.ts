// The write-ahead log of the PostgreSQL server a bench runs against. A server that must grow its
// WAL creates each new 16 MB segment inside whichever commit crosses into it: it zero-fills and
// flushes the file while holding the WAL write lock, so every commit behind waits (15-40 ms a
// segment here; with ~3 KB of WAL per decision, one every 1.5-3 s at 2,000 decisions/s). A server
// in steady state reuses the segments its checkpoints recycled and creates none. A fresh one (a
// new machine's) starts with one segment, so a bench on it measured segment creation, not the
// orchestrator. Warming makes the segments first, as a long-running server has them.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import type { DurableCommits } from './commit-probe';

/** Segments made ready by `warm`: 1 GiB of WAL, more than the HTTP rows write. */
const SEGMENTS = 64;

/**
 * What the server wrote and did while a row ran: WAL (per trace record appended), and the upkeep
 * that can stall commits as well (checkpoints; autovacuums and autoanalyzes of this database's tables).
 */
export interface Upkeep {
  walBytes: number;
  records: number;
  checkpoints: number;
  autovacuums: number;
  /** Milliseconds a durable commit of nothing took meanwhile (see `probeCommits`). */
  durableCommit?: DurableCommits;
}

/** What `probeCommits` measured, as the bench prints it wherever it does. */
export function describeCommits(d: DurableCommits): string {
  return `a durable commit of nothing p50 ${d.p50.toFixed(2)}, p99 ${d.p99.toFixed(2)}, max ${d.max.toFixed(1)} ms`;
}

export function describe(u: Upkeep): string {
  const floor = u.durableCommit ? `; ${describeCommits(u.durableCommit)}` : '';
  return `WAL ${(u.walBytes / Math.max(1, u.records) / 1024).toFixed(1)} KiB per trace record, ${u.checkpoints} checkpoints, ${u.autovacuums} autovacuums${floor}`;
}

/** A WAL position ('16/B374D848') as a byte offset (exact below 2^53 bytes). */
function lsnBytes(lsn: string): number {
  const [hi, lo] = lsn.split('/');
  return parseInt(hi, 16) * 2 ** 32 + parseInt(lo, 16);
}

export interface Position {
  lsn: string;
  records: number;
  checkpoints: number;
  autovacuums: number;
}

export class WriteAheadLog {
  /** Where `since` counts from: `open`, or the end of `warm`. */
  private from!: Position;

  private constructor(
    private readonly db: Client,
    private readonly url: string,
    /** Where the server counts its checkpoints: PostgreSQL 17 moved them out of pg_stat_bgwriter. */
    private readonly checkpoints: string,
  ) {}

  static async open(databaseUrl: string): Promise<WriteAheadLog> {
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const [{ version }] = (await db.query<{ version: string }>(`select current_setting('server_version_num') as version`)).rows;
      const checkpoints = Number(version) >= 170000 ? 'select num_timed + num_requested from pg_stat_checkpointer' : 'select checkpoints_timed + checkpoints_req from pg_stat_bgwriter';
      const wal = new WriteAheadLog(db, databaseUrl, checkpoints);
      wal.from = await wal.position();
      return wal;
    } catch (err) {
      await db.end();
      throw err;
    }
  }

  /**
   * Until `SEGMENTS` are ready for reuse: moves through that many segments (a tiny WAL
   * message, then a switch to the next one, each time; ready ones are reused, the rest created),
   * then a checkpoint recycles them ahead of the current one, since it keeps as many as it saw
   * written since the last. Needs a superuser (pg_switch_wal, CHECKPOINT, pg_ls_waldir); without
   * one, says why it did nothing.
   */
  async warm(): Promise<string> {
    try {
      const before = await this.ready();
      const wanted = Math.min(SEGMENTS, await this.maxSegments());
      let ready = before;
      // From a server that kept few, one round leaves about half of them (measured: 4 → 34, then 63).
      for (let round = 0; round < 3 && ready < wanted; round++) {
        for (let i = 0; i < wanted; i++) await this.db.query(`select pg_logical_emit_message(false, 'aao-bench', ''), pg_switch_wal()`);
        await this.db.query('checkpoint');
        ready = await this.ready();
      }
      this.from = await this.position();
      return `PostgreSQL WAL: ${ready} segments ready for reuse before the rows (${before} found)`;
    } catch (err) {
      return `PostgreSQL WAL not warmed (${(err as Error).message}): rows may include the creation of new segments`;
    }
  }

  /** WAL written since `open` or `warm` in all, and the segments still ready for reuse. */
  async since(): Promise<string> {
    const upkeep = WriteAheadLog.between(this.from, await this.position());
    const ready = await this.ready().then(String, () => 'unknown');
    return `PostgreSQL during the rows: ${describe(upkeep)}; ${(upkeep.walBytes / 2 ** 20).toFixed(0)} MiB of WAL; segments still ready for reuse: ${ready}`;
  }

  /**
   * Commits a transactional WAL message of nothing every 20 ms until `stop`, which gives how long
   * each took; from a process of its own (bench/commit-probe.ts), so that the times are the
   * server's and the machine's, not this busy event loop's. Every trace batch holds its tenant's
   * chain head through such a flush: what one costs meanwhile, on the same cores and disk, is the
   * floor under the trace's commits (each batch's own work comes on top, and the next batch waits
   * for both).
   */
  probeCommits(): { stop(): Promise<DurableCommits | undefined> } {
    const child = spawn(process.execPath, [path.join(__dirname, 'commit-probe.js')], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, PROBE_DATABASE_URL: this.url } });
    child.stdin.on('error', () => undefined); // a probe that already ended
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    // A probe that could not start ends too (`error`, perhaps without `close`).
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()).on('error', () => resolve()));
    return {
      async stop() {
        child.stdin.end();
        await exited;
        // Nothing when the server refused the message or the probe failed: the row goes on without it.
        return out.trim() ? (JSON.parse(out) as DurableCommits) : undefined;
      },
    };
  }

  /** What the server wrote and did between two positions. */
  static between(from: Position, to: Position): Upkeep {
    return {
      walBytes: lsnBytes(to.lsn) - lsnBytes(from.lsn),
      records: to.records - from.records,
      checkpoints: to.checkpoints - from.checkpoints,
      autovacuums: to.autovacuums - from.autovacuums,
    };
  }

  close(): Promise<void> {
    return this.db.end();
  }

  /** Where the WAL and the trace are now (the chain heads count the records, in one row per tenant, no table scan). */
  async position(): Promise<Position> {
    const [row] = (
      await this.db.query<Record<keyof Position, string>>(
        `select pg_current_wal_lsn()::text as lsn, (select coalesce(sum(seq), 0) from trace_chain_heads) as records,
                (${this.checkpoints}) as checkpoints,
                (select sum(autovacuum_count + autoanalyze_count) from pg_stat_user_tables) as autovacuums`,
      )
    ).rows;
    return { lsn: row.lsn, records: Number(row.records), checkpoints: Number(row.checkpoints), autovacuums: Number(row.autovacuums) };
  }

  /** Segment files after the current one: recycled, waiting to be reused. */
  private async ready(): Promise<number> {
    const [{ n }] = (await this.db.query<{ n: string }>(`select count(*) as n from pg_ls_waldir() where name ~ '^[0-9A-F]{24}$' and name > pg_walfile_name(pg_current_wal_lsn())`)).rows;
    return Number(n);
  }

  /** A checkpoint keeps at most max_wal_size of segments for reuse. */
  private async maxSegments(): Promise<number> {
    const [{ n }] = (await this.db.query<{ n: string }>(`select (select setting::bigint from pg_settings where name = 'max_wal_size') * 1048576 / (select setting::bigint from pg_settings where name = 'wal_segment_size') as n`)).rows;
    return Number(n) - 1;
  }
}
