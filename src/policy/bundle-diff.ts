// What changes between two bundle versions: apps, tools, routes and rules added, removed or
// changed (by id, with the fields that differ), and whether the rules' order changed (the first
// matching escalate rule picks the route).
import { canonicalJson } from '../audit/digest';
import type { GovernanceBundle } from './bundle';
import { bundleVersion } from './compile';

export interface SectionDiff {
  added: string[];
  removed: string[];
  changed: { id: string; fields: string[] }[];
}

export interface BundleDiff {
  from: string;
  to: string;
  apps: SectionDiff;
  tools: SectionDiff;
  routes: SectionDiff;
  rules: SectionDiff;
  ruleOrderChanged: boolean;
}

export const DIFF_SECTIONS = ['apps', 'tools', 'routes', 'rules'] as const;

export function diffBundles(a: GovernanceBundle, b: GovernanceBundle): BundleDiff {
  const common = new Set(b.rules.map((r) => r.id));
  const orderA = a.rules.map((r) => r.id).filter((id) => common.has(id));
  const inA = new Set(orderA);
  const orderB = b.rules.map((r) => r.id).filter((id) => inA.has(id));
  return {
    from: bundleVersion(a),
    to: bundleVersion(b),
    apps: diffSection(a.apps, b.apps),
    tools: diffSection(a.tools, b.tools),
    routes: diffSection(a.routes, b.routes),
    rules: diffSection(a.rules, b.rules),
    ruleOrderChanged: orderA.join('\n') !== orderB.join('\n'),
  };
}

function diffSection<T extends { id: string }>(before: readonly T[], after: readonly T[]): SectionDiff {
  const old = new Map(before.map((x) => [x.id, x]));
  const now = new Map(after.map((x) => [x.id, x]));
  const changed: SectionDiff['changed'] = [];
  for (const [id, x] of now) {
    const was = old.get(id);
    if (!was) continue;
    const fields = [...new Set([...Object.keys(was), ...Object.keys(x)])]
      .filter((k) => canonicalJson((was as Record<string, unknown>)[k]) !== canonicalJson((x as Record<string, unknown>)[k]))
      .sort();
    if (fields.length) changed.push({ id, fields });
  }
  return {
    added: [...now.keys()].filter((id) => !old.has(id)),
    removed: [...old.keys()].filter((id) => !now.has(id)),
    changed,
  };
}
