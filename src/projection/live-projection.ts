// The projection the API decides in-context calls from, held in memory by each process: tasks with
// their live grants and credential references, people and agents. The database tells every process
// which entry to forget the moment a change commits (triggers → NOTIFY 'projection'), so a
// revocation or an offboarding written anywhere is honoured by the next call everywhere; while
// those notifications cannot be trusted (the listening connection is down), nothing is cached.
import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../db/sql';
import type { PolicyAgent, PolicyUser } from '../policy/bundle';
import type { TaskView } from '../tasks/task-repository';

export const PROJECTION_CHANNEL = 'projection';

export interface ProjectionSource {
  view(taskId: string): Promise<TaskView | undefined>;
  user(id: string): Promise<PolicyUser | undefined>;
  agent(id: string): Promise<PolicyAgent | undefined>;
}

/** Entries are the loads themselves: forgetting one mid-load means the load's result is not kept. */
class Entries<V> {
  private readonly map = new Map<string, Promise<V | undefined>>();
  constructor(private readonly max: number) {}

  get(key: string, load: () => Promise<V | undefined>, keep: boolean): Promise<V | undefined> {
    const hit = this.map.get(key);
    if (hit) return hit;
    const loading = load();
    if (!keep) return loading;
    this.map.set(key, loading);
    // Oldest first out: a bound on memory, not a policy (10,000 active tasks are far below it).
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
    // Absence is not kept (a task another replica just created must be found) and neither are errors.
    const drop = () => {
      if (this.map.get(key) === loading) this.map.delete(key);
    };
    loading.then((v) => v === undefined && drop(), drop);
    return loading;
  }

  forget(key: string): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

export class LiveProjection {
  private readonly tasks: Entries<TaskView>;
  private readonly users: Entries<PolicyUser>;
  private readonly agents: Entries<PolicyAgent>;
  private readonly barriers = new Map<string, () => void>();
  private live = false;
  private unlisten?: () => Promise<void>;

  constructor(
    private readonly db: SqlClient,
    private readonly source: ProjectionSource,
    maxEntries = 100_000,
  ) {
    this.tasks = new Entries(maxEntries);
    this.users = new Entries(maxEntries);
    this.agents = new Entries(maxEntries);
  }

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(PROJECTION_CHANNEL, {
      payload: (p) => this.changed(p),
      live: (up) => {
        this.clear();
        this.live = up;
      },
    });
    this.live = true;
  }

  async stop(): Promise<void> {
    this.live = false;
    this.clear();
    await this.unlisten?.();
  }

  task(taskId: string): Promise<TaskView | undefined> {
    return this.tasks.get(taskId, () => this.source.view(taskId), this.live);
  }

  /**
   * The task as the database has it now, whatever was cached (and cached again if changes are
   * heard); its person and agent are read afresh too, on their next use.
   */
  async taskAfresh(taskId: string): Promise<TaskView | undefined> {
    this.tasks.forget(taskId);
    const view = await this.task(taskId);
    if (view) {
      this.users.forget(view.task.userId);
      this.agents.forget(view.task.agentId);
    }
    return view;
  }

  user(id: string): Promise<PolicyUser | undefined> {
    return this.users.get(id, () => this.source.user(id), this.live);
  }

  agent(id: string): Promise<PolicyAgent | undefined> {
    return this.agents.get(id, () => this.source.agent(id), this.live);
  }

  /**
   * Resolves once every change committed before it was called has been applied here: a write this
   * process answered for (an HR event's 202, an ended task) is then seen by its next call, even when
   * another process made the change. Notifications arrive in commit order, so our own marker
   * arriving means all earlier ones did.
   */
  async barrier(timeoutMs = 1000): Promise<void> {
    if (!this.live) return;
    const marker = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<void>((resolve) => {
      this.barriers.set(marker, resolve);
      timer = setTimeout(resolve, timeoutMs);
    });
    try {
      await this.db.query('select pg_notify($1, $2)', [PROJECTION_CHANNEL, `barrier:${marker}`]);
      await seen;
    } finally {
      clearTimeout(timer);
      this.barriers.delete(marker);
    }
  }

  /** Whether changes are being heard (else nothing is cached and every call reads the database). */
  get listening(): boolean {
    return this.live;
  }

  /** Entries held, for metrics and the memory bench. */
  get size(): { tasks: number; users: number; agents: number } {
    return { tasks: this.tasks.size, users: this.users.size, agents: this.agents.size };
  }

  private changed(payload: string): void {
    const at = payload.indexOf(':');
    const kind = payload.slice(0, at);
    const key = payload.slice(at + 1);
    if (kind === 'task') this.tasks.forget(key);
    else if (kind === 'user') this.users.forget(key);
    else if (kind === 'agent') this.agents.forget(key);
    else if (kind === 'barrier') this.barriers.get(key)?.();
    // Anything else (a newer schema's entity): forget all rather than serve what it changed.
    else this.clear();
  }

  private clear(): void {
    this.tasks.clear();
    this.users.clear();
    this.agents.clear();
  }
}
