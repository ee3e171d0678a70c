// Memory at 10,000 active tasks (BENCH_TASKS), each with one tool in its context: the process that
// runs the worker and the API (and PGlite), and the Temporal dev server beside it; then in-context
// calls spread over all of them (every task's view in the live projection).
import fs from 'node:fs';
import { benchOrchestrator, GATEWAYS, isLocalPostgres, load, row, SECONDS } from './harness';

const TASKS = Number(process.env.BENCH_TASKS ?? 10_000);

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** Resident size of another process, from /proc (Linux). */
function rssOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function benchActiveTasks(): Promise<void> {
  const { o, tokens, config, stop } = await benchOrchestrator();
  const memory = (label: string) => {
    const m = process.memoryUsage();
    const server = rssOf(o.temporalPid);
    const p = o.services.projection.size;
    console.log(
      `${label.padEnd(52)} worker + API process: rss ${mib(m.rss)}, heap used ${mib(m.heapUsed)}` +
        `${server ? `; Temporal dev server rss ${mib(server)}` : ''}; projection holds ${p.tasks} tasks, ${p.users} people, ${p.agents} agents`,
    );
  };
  console.log(`${TASKS} active tasks; trace store ${config.databaseUrl ? 'PostgreSQL' : 'PGlite'}`);
  const watch = { traces: o.services.traces, temporalPid: o.temporalPid, localPostgres: isLocalPostgres(config.databaseUrl) };
  try {
    memory('idle');
    const started = await load({
      name: `POST /v1/tasks × ${TASKS}`,
      url: `${o.baseUrl}/v1/tasks`,
      method: 'POST',
      token: tokens.gateway,
      connections: 20,
      amount: TASKS,
      startTask: { prefix: `bench-${Date.now()}` },
    }, { temporalPid: o.temporalPid });
    console.log(row(started));
    const tasks = (await o.services.db.query<{ task_id: string }>("select task_id from tasks where status = 'active' order by task_id")).map((r) => r.task_id);
    memory(`${tasks.length} tasks started`);
    const granted = await load({
      name: `first tool call of each (workflow grants it)`,
      url: o.baseUrl,
      method: 'POST',
      token: tokens.gateway,
      connections: 20,
      amount: tasks.length,
      toolCall: { tasks, toolId: 'github.create_pr', args: { repo: 'acme/api', title: 'bench', head: 'b' } },
    }, watch);
    console.log(row(granted));
    const [{ n }] = await o.services.db.query<{ n: number }>('select count(distinct task_id)::int as n from grants where revoked_at is null');
    memory(`${n} tasks with a tool in context`);
    const decided = await load({
      name: `in-context calls over all ${tasks.length} tasks`,
      url: o.baseUrl,
      method: 'POST',
      token: tokens.gateway,
      connections: GATEWAYS,
      durationSeconds: SECONDS,
      toolCall: { tasks, toolId: 'github.create_pr', args: { repo: 'acme/api', title: 'bench', head: 'b' } },
    }, watch);
    console.log(row(decided));
    memory('after the in-context calls');
  } finally {
    await stop();
  }
}
