// Just-in-time provisioning against a local SCIMMY server: a grant with provisioning through our
// activities (provisionAccount + grantEntitlement for a fresh person and task) against the same
// SCIM requests sent with plain fetch. The ratio is what the journal, vault, directory and
// connector add on top of the target's own latency.
import { randomBytes, randomUUID } from 'node:crypto';
import { createProvisioningActivities } from '../activities/provisioning/activities';
import { migrate } from '../src/db/migrate';
import { PgliteClient } from '../src/db/pglite-client';
import { DirectoryRepository, type SeedPerson } from '../src/directory/directory-repository';
import type { App } from '../src/policy/bundle';
import { EncryptedSecretStore } from '../src/vault/encrypted-secret-store';
import { startScimTarget, type ScimTarget } from '../test/support/scim-target';
import { exitWhenDone } from './harness';

const GROUP = 'Bench Editors';
const APP: App = {
  id: 'bench-crm',
  name: 'Bench CRM',
  category: 'business',
  riskLevel: 'high',
  dataClassification: 'customer',
  owner: 'p-owner',
  connector: { type: 'scim', secretRef: 'apps/bench-crm/scim' },
  entitlements: [{ id: 'editor', name: 'Editor', group: GROUP }],
};

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

/** The HTTP requests the SCIM connector sends for a fresh person, with nothing around them. */
async function rawGrant(target: ScimTarget, person: SeedPerson): Promise<void> {
  const headers = { authorization: `Bearer ${target.token}`, accept: 'application/scim+json', 'content-type': 'application/scim+json' };
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${target.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as { id?: string; Resources?: { id: string }[] }) : {};
  };
  const list = (path: string, filter: string, attributes: string) => call('GET', `${path}?${new URLSearchParams({ filter, attributes })}`);
  await list('/Users', `userName eq ${JSON.stringify(person.userName)}`, 'id,userName,externalId,active');
  await list('/Users', `externalId eq ${JSON.stringify(person.id)}`, 'id,userName,externalId,active');
  const [givenName, ...rest] = person.displayName!.split(' ');
  const user = await call('POST', '/Users', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: person.userName,
    externalId: person.id,
    displayName: person.displayName,
    name: { formatted: person.displayName, givenName, familyName: rest.join(' ') },
    emails: [{ value: person.email, type: 'work', primary: true }],
    active: true,
  });
  const groups = await list('/Groups', `displayName eq ${JSON.stringify(GROUP)}`, 'id,displayName,members');
  await call('PATCH', `/Groups/${groups.Resources![0].id}`, {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'add', path: 'members', value: [{ value: user.id }] }],
  });
}

export async function benchProvisioning(opts: { iterations?: number; warmup?: number } = {}): Promise<void> {
  const iterations = opts.iterations ?? 200;
  const warmup = opts.warmup ?? 20;
  const rounds = iterations + warmup;

  const target = await startScimTarget();
  target.addGroup(GROUP);
  const db = await PgliteClient.open();
  try {
    await migrate(db);
    const secrets = new EncryptedSecretStore(db, randomBytes(32));
    await secrets.put(APP.connector.secretRef!, { baseUrl: target.url, token: target.token });
    const person = (set: string, i: number): SeedPerson => ({
      id: `p-${set}-${i}`,
      userName: `${set}.person${i}`,
      displayName: `Bench Person${i}`,
      email: `${set}.person${i}@example.com`,
    });
    const directory = new DirectoryRepository(db);
    await directory.seed(
      Array.from({ length: rounds }, (_, i) => person('ours', i)),
      [],
    );
    const acts = createProvisioningActivities({ apps: { app: (id) => (id === APP.id ? APP : undefined) }, secrets, people: directory, db });

    const ours: number[] = [];
    const raw: number[] = [];
    // Interleaved, each from an empty group: SCIMMY's cost per group request grows with its members
    // (a 400-member group would dominate both sides and hide what we add).
    const emptyGroup = () => (target.groupNamed(GROUP)!.members = []);
    for (let i = 0; i < rounds; i++) {
      const taskId = `bench-${randomUUID()}`;
      emptyGroup();
      let t = performance.now();
      const account = await acts.provisionAccount({ taskId, appId: APP.id, userId: `p-ours-${i}` });
      await acts.grantEntitlement({ taskId, appId: APP.id, accountId: account.accountId, entitlementId: 'editor' });
      const oursMs = performance.now() - t;

      emptyGroup();
      t = performance.now();
      await rawGrant(target, person('raw', i));
      const rawMs = performance.now() - t;
      if (i >= warmup) {
        ours.push(oursMs);
        raw.push(rawMs);
      }
    }

    ours.sort((a, b) => a - b);
    raw.sort((a, b) => a - b);
    const [o50, o99, r50, r99] = [quantile(ours, 0.5), quantile(ours, 0.99), quantile(raw, 0.5), quantile(raw, 0.99)];
    console.log(`provisioning: ${iterations} grants with provisioning (5 SCIM requests each) against SCIMMY on 127.0.0.1, PGlite in memory`);
    console.log(`  ours (provisionAccount + grantEntitlement)  p50 ${fmt(o50)}  p99 ${fmt(o99)}`);
    console.log(`  raw SCIM requests (plain fetch)             p50 ${fmt(r50)}  p99 ${fmt(r99)}`);
    console.log(`  ratio ours/raw                              p50 ${(o50 / r50).toFixed(2)}x (+${fmt(o50 - r50)})  p99 ${(o99 / r99).toFixed(2)}x (+${fmt(o99 - r99)})`);
  } finally {
    await db.close();
    await target.stop();
  }
}

if (require.main === module) exitWhenDone(benchProvisioning());
