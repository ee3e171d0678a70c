// The write-ahead log of the PostgreSQL server a bench runs against. A server that must grow its
// WAL creates each new 16 MB segment inside whichever commit crosses into it: it zero-fills and
// flushes the file while holding the WAL write lock, so every commit behind waits (15-40 ms a
// segment here; with ~3 KB of WAL per decision, one every 1.5-3 s at 2,000 decisions/s). A server
// in steady state reuses the segments its checkpoints recycled and creates none. A fresh one (a
// new machine's) starts with one segment, so a bench on it measured segment creation, not the
// orchestrator. Warming makes the segments first, as a long-running server has them.
import { Client } from 'pg';

/** Segments made ready by `warm`: 1 GiB of WAL, more than the HTTP rows write. */
const SEGMENTS = 64;

export class WriteAheadLog {
  private constructor(
    private readonly db: Client,
    private readonly from: { lsn: string; records: number },
  ) {}

  static async open(databaseUrl: string): Promise<WriteAheadLog> {
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    const wal = new WriteAheadLog(db, { lsn: '0/0', records: 0 });
    Object.assign(wal.from, await wal.position());
    return wal;
  }

  /**
   * Creates segments until `SEGMENTS` are ready for reuse (a tiny WAL message, then a switch to the
   * next segment, each time), then a checkpoint recycles them ahead of the current one. Needs a
   * superuser (pg_switch_wal, CHECKPOINT, pg_ls_waldir); without one, says why it did nothing.
   */
  async warm(): Promise<string> {
    try {
      const before = await this.ready();
      const missing = Math.max(0, Math.min(SEGMENTS, await this.maxSegments()) - before);
      for (let i = 0; i < missing; i++) await this.db.query(`select pg_logical_emit_message(false, 'aao-bench', ''), pg_switch_wal()`);
      if (missing) await this.db.query('checkpoint');
      Object.assign(this.from, await this.position());
      return `PostgreSQL WAL: ${await this.ready()} segments ready for reuse before the rows (${before} found)`;
    } catch (err) {
      return `PostgreSQL WAL not warmed (${(err as Error).message}): rows may include the creation of new segments`;
    }
  }

  /** WAL written since `open` or `warm`, per trace record appended meanwhile, and the segments still ready. */
  async since(): Promise<string> {
    const now = await this.position();
    const [{ bytes }] = (await this.db.query<{ bytes: string }>('select pg_wal_lsn_diff($1, $2)::bigint as bytes', [now.lsn, this.from.lsn])).rows;
    const records = now.records - this.from.records;
    const ready = await this.ready().then(String, () => 'unknown');
    return `PostgreSQL WAL during the rows: ${(Number(bytes) / 2 ** 20).toFixed(0)} MiB, ${(Number(bytes) / Math.max(1, records) / 1024).toFixed(1)} KiB per trace record (${records}); segments still ready: ${ready}`;
  }

  close(): Promise<void> {
    return this.db.end();
  }

  private async position(): Promise<{ lsn: string; records: number }> {
    const [row] = (await this.db.query<{ lsn: string; records: string }>('select pg_current_wal_lsn()::text as lsn, (select count(*) from decision_traces) as records')).rows;
    return { lsn: row.lsn, records: Number(row.records) };
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
