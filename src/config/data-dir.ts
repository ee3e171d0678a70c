// The data directory holds the embedded database (the Decision Trace, the directory, encrypted
// secrets), the dev server's workflow histories and the vault key: what it creates is readable by
// this user only. A directory that exists keeps its mode (the operator chose it).
import fs from 'node:fs';

export function makePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}
