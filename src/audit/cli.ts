// `npm run trace -- <command>`: query, verify and replay the Decision Trace of the configured
// database (DATABASE_URL, or the PGlite under DATA_DIR). Parses argv and prints.
import { appendFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/config';
import { FilterError } from '../db/filter-sql';
import { openDatabase } from '../db/open-database';
import { PolicyStore } from '../policy/policy-store';
import { loadMasterKey } from '../vault/master-key';
import { serviceCheckpointSigner, type CheckpointSigner } from './checkpoints';
import { replayDecision } from './replay';
import { TraceStore } from './trace-store';

export interface TraceCliOutput {
  out(line: string): void;
  err(line: string): void;
}

export interface TraceCliDeps {
  open(): Promise<{ traces: TraceStore; policies: Pick<PolicyStore, 'byVersion'>; signer: CheckpointSigner; close(): Promise<void> }>;
}

const USAGE = [
  'usage: npm run trace -- <command>',
  "  query '<SCIM filter>' [--count N]   records matching a filter, e.g. 'userId eq \"alice\" and decision eq \"deny\"'",
  '  verify                             recompute the hash chain and check the signed checkpoints',
  '  replay <traceId>                   re-decide a recorded decision with its pinned policy version',
  '  prune <before ISO> <archive.jsonl> archive the records older than a date, sign a checkpoint at the cut, delete them',
];

export async function runTraceCli(argv: string[], io: TraceCliOutput, deps: TraceCliDeps = { open: openConfigured }): Promise<number> {
  const [command, arg, ...rest] = argv;
  if (!['query', 'verify', 'replay', 'prune'].includes(command ?? '')) {
    USAGE.forEach((l) => io.err(l));
    return 2;
  }
  if ((command === 'query' || command === 'replay' || command === 'prune') && !arg) {
    io.err(`${command} needs an argument`);
    USAGE.forEach((l) => io.err(l));
    return 2;
  }
  const ctx = await deps.open();
  try {
    if (command === 'verify') {
      const v = await ctx.traces.verifyWithCheckpoints(ctx.signer);
      io.out(v.ok ? `OK: ${v.checked} records, ${v.checkpoints} signed checkpoint(s)` : `BROKEN after ${v.checked} good records: ${v.reason}${v.firstBrokenId ? ` (first broken: ${v.firstBrokenId})` : ''}`);
      return v.ok ? 0 : 1;
    }
    if (command === 'query') {
      const count = rest[0] === '--count' ? Number(rest[1]) : 100;
      const page = await ctx.traces.query({ filter: arg, count });
      for (const r of page.Resources) io.out(JSON.stringify({ traceId: r.traceId, seq: r.seq, kind: r.kind, occurredAt: r.occurredAt, ...r.body }));
      io.err(`${page.itemsPerPage} of ${page.totalResults} record(s)`);
      return 0;
    }
    if (command === 'prune') {
      const [file] = rest;
      if (Number.isNaN(Date.parse(arg)) || !file) {
        io.err('prune takes a date-time and an archive file');
        return 2;
      }
      const last = await ctx.traces.query({ filter: `time lt "${new Date(arg).toISOString()}"`, count: 0 });
      if (!last.totalResults) {
        io.out('Nothing older than that.');
        return 0;
      }
      const [cut] = (await ctx.traces.query({ filter: `time lt "${new Date(arg).toISOString()}"`, startIndex: last.totalResults, count: 1 })).Resources;
      const n = await ctx.traces.prune(cut.seq, ctx.signer, async (records) => appendFileSync(file, records.map((r) => `${JSON.stringify(r)}\n`).join('')));
      io.out(`Pruned ${n} record(s) through seq ${cut.seq} into ${file}; a signed checkpoint anchors what remains.`);
      return 0;
    }
    const record = await ctx.traces.get(arg);
    if (!record) {
      io.err(`No trace ${arg}.`);
      return 1;
    }
    if (!record.body.policyVersion) {
      io.err(`Trace ${arg} (${record.kind}) pins no policy version: nothing to replay.`);
      return 1;
    }
    const result = replayDecision(record, await ctx.policies.byVersion(record.body.policyVersion));
    io.out(JSON.stringify(result, null, 2));
    if (!result.replayable) io.err(`not replayable: ${result.why}`);
    else io.err(result.matches ? 'MATCHES the recorded decision' : 'DIFFERS from the recorded decision');
    return result.replayable && result.matches ? 0 : 1;
  } catch (err) {
    if (err instanceof FilterError) {
      io.err(`invalid filter: ${err.message}`);
      return 2;
    }
    throw err;
  } finally {
    await ctx.close();
  }
}

async function openConfigured() {
  const config = loadConfig();
  const local = path.join(config.dataDir, 'pglite');
  if (!config.databaseUrl && !existsSync(local)) throw new Error(`No Decision Trace: ${local} does not exist (set DATABASE_URL, or DATA_DIR to the server's data folder).`);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const masterKey = loadMasterKey({ keyBase64: config.vault.keyBase64, keyFile: config.vault.keyFile });
  return {
    traces: new TraceStore(db, config.tenant),
    policies: new PolicyStore(db, config.governanceDir),
    signer: serviceCheckpointSigner(masterKey),
    close: () => db.close(),
  };
}

if (require.main === module) {
  runTraceCli(process.argv.slice(2), { out: (l) => console.log(l), err: (l) => console.error(l) }).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
