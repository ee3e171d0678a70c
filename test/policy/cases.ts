// Loads the golden case files of test/policy/cases (YAML, one file per topic).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export function loadCases<T>(name: string): T {
  return parse(readFileSync(path.join(__dirname, 'cases', name), 'utf8')) as T;
}

/** The shared RFC 7644 filter vectors, one filter a line (outside this repo, not copied). */
export function rfc7644Filters(): string[] {
  const file = path.resolve(__dirname, '../../../shared/vectors/rfc7644-filters.txt');
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
