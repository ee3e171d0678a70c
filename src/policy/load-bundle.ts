// Reads a governance bundle folder: one YAML file per section (apps.yaml, tools.yaml, routes.yaml,
// rules.yaml, tests.yaml), each a mapping with that one key. directory.yaml sits beside them for
// `npm start` but is not part of the bundle.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { GovernanceBundle } from './bundle';
import { BUNDLE_SECTIONS, validateBundle, type BundleError, type BundleSection } from './validate-bundle';

const REQUIRED: readonly BundleSection[] = ['apps', 'tools', 'rules'];
const NOT_BUNDLE = new Set(['directory.yaml']);

export function loadBundleDir(dir: string): { bundle: GovernanceBundle; errors: BundleError[] } {
  const bundle: GovernanceBundle = { apps: [], tools: [], routes: [], rules: [], tests: [] };
  const errors: BundleError[] = [];
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    return { bundle, errors: [{ file: dir, path: '', message: 'not a folder' }] };
  }
  const expected = BUNDLE_SECTIONS.map((s) => `${s}.yaml`);
  for (const name of readdirSync(dir).sort()) {
    if (/\.ya?ml$/.test(name) && !NOT_BUNDLE.has(name) && !expected.includes(name)) {
      errors.push({ file: name, path: '', message: `not part of a bundle (expected ${expected.join(', ')})` });
    }
  }
  const sections = bundle as unknown as Record<BundleSection, unknown>;
  for (const section of BUNDLE_SECTIONS) {
    const file = `${section}.yaml`;
    const full = path.join(dir, file);
    if (!existsSync(full)) {
      if (REQUIRED.includes(section)) errors.push({ file, path: '', message: 'missing' });
      continue;
    }
    const doc = parseDocument(readFileSync(full, 'utf8'));
    if (doc.errors.length) {
      for (const e of doc.errors) errors.push({ file, path: '', message: `not valid YAML: ${e.message}` });
      continue;
    }
    const content: unknown = doc.toJS();
    if (content === null || content === undefined) continue;
    const keys = typeof content === 'object' && !Array.isArray(content) ? Object.keys(content) : [];
    if (keys.length !== 1 || keys[0] !== section) {
      errors.push({ file, path: '', message: `must be a mapping with the one key "${section}"` });
      continue;
    }
    sections[section] = (content as Record<string, unknown>)[section] ?? [];
  }
  errors.push(...validateBundle(bundle));
  return { bundle, errors };
}
