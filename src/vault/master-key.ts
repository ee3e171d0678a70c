// The secret store's AES-256 key: from VAULT_KEY (base64), else a 0600 key file created once.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makePrivateDir } from '../config/data-dir';

export function loadMasterKey(opts: { keyBase64?: string; keyFile: string }): Buffer {
  if (opts.keyBase64) return checked(Buffer.from(opts.keyBase64, 'base64'), 'VAULT_KEY');
  if (fs.existsSync(opts.keyFile)) {
    const mode = fs.statSync(opts.keyFile).mode & 0o077;
    if (mode) throw new Error(`VAULT_KEY_FILE=${opts.keyFile}: readable by group or others (chmod 600 it)`);
    return checked(Buffer.from(fs.readFileSync(opts.keyFile, 'utf8').trim(), 'base64'), `VAULT_KEY_FILE=${opts.keyFile}`);
  }
  makePrivateDir(path.dirname(opts.keyFile));
  const key = randomBytes(32);
  // 'wx': two processes starting together never overwrite each other's key.
  try {
    fs.writeFileSync(opts.keyFile, key.toString('base64'), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadMasterKey(opts);
    throw err;
  }
  return key;
}

function checked(key: Buffer, name: string): Buffer {
  if (key.length !== 32) throw new Error(`${name}: must be 32 bytes of base64 (AES-256), got ${key.length}`);
  return key;
}
