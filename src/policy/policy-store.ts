// The active compiled policy of this process, pinned by version in the database so every
// replica decides with the same bundle and every past version stays replayable.
import type { SqlClient } from '../db/sql';
import type { GovernanceBundle } from './bundle';
import { BundleInvalidError, compilePolicy, type CompiledPolicy } from './compile';
import { loadBundleDir } from './load-bundle';

export class PolicyStore {
  private current!: CompiledPolicy;
  private readonly versions = new Map<string, CompiledPolicy>();

  constructor(
    private readonly db: SqlClient,
    readonly dir: string,
  ) {}

  /** Loads the bundle from its folder and makes it active. Throws BundleInvalidError (nothing changes). */
  async reload(): Promise<CompiledPolicy> {
    const { bundle, errors } = loadBundleDir(this.dir);
    if (errors.length) throw new BundleInvalidError(errors);
    const compiled = compilePolicy(bundle);
    await this.db.transaction(async (tx) => {
      await tx.query('insert into policy_versions (version, bundle) values ($1, $2::jsonb) on conflict do nothing', [
        compiled.version,
        JSON.stringify(bundle),
      ]);
      await tx.query(
        `insert into policy_active (singleton, version) values (true, $1)
         on conflict (singleton) do update set version = excluded.version, activated_at = now()`,
        [compiled.version],
      );
    });
    this.use(compiled);
    return compiled;
  }

  active(): CompiledPolicy {
    return this.current;
  }

  /**
   * Picks up a version another replica published (a cheap read; called on an interval). A reload in
   * this process while the read was on its way wins: the read may predate it (on PostgreSQL the two
   * run on different connections), and would otherwise put the version before it back for a second.
   */
  async refresh(): Promise<void> {
    const before = this.current;
    const [row] = await this.db.query<{ version: string }>('select version from policy_active');
    if (!row || row.version === before?.version) return;
    const published = await this.byVersion(row.version);
    if (this.current === before) this.use(published);
  }

  async byVersion(version: string): Promise<CompiledPolicy> {
    const known = this.versions.get(version);
    if (known) return known;
    const [row] = await this.db.query<{ bundle: GovernanceBundle }>('select bundle from policy_versions where version = $1', [version]);
    if (!row) throw new Error(`unknown policy version ${version}`);
    const compiled = compilePolicy(row.bundle);
    this.versions.set(version, compiled);
    return compiled;
  }

  private use(compiled: CompiledPolicy): void {
    this.versions.set(compiled.version, compiled);
    this.current = compiled;
  }
}
