// A durable commit of nothing, every 20 ms (50 a second, a few percent of a row's work), against
// PROBE_DATABASE_URL until stdin closes; then one JSON line: how long they took, in milliseconds.
// Run by WriteAheadLog.probeCommits in a process of its own. Prints nothing if the server refused.
import { Client } from 'pg';
import { latencySummary } from './latency';

export type DurableCommits = ReturnType<typeof latencySummary>;

const EVERY_MS = 20;

async function main(): Promise<void> {
  const db = new Client({ connectionString: process.env.PROBE_DATABASE_URL });
  await db.connect();
  let stopped = false;
  process.stdin.on('end', () => (stopped = true)).resume();
  const times: number[] = [];
  try {
    while (!stopped) {
      const started = performance.now();
      // Transactional: the commit writes the message and flushes the WAL, as a trace batch's does.
      await db.query(`select pg_logical_emit_message(true, 'aao-bench', '')`);
      const took = performance.now() - started;
      times.push(took);
      await new Promise((r) => setTimeout(r, Math.max(0, EVERY_MS - took)));
    }
  } finally {
    await db.end();
  }
  if (times.length) process.stdout.write(`${JSON.stringify(latencySummary(times))}\n`);
}

main().catch(() => process.exit(0));
