// What the process writes to disk is its user's alone: the data directory (the embedded database,
// the dev server's histories) and the vault key, created 0700 and 0600; a key file others can
// read is refused, not used.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { createServices } from '../../src/services';
import { loadMasterKey } from '../../src/vault/master-key';

const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

describe('files on disk', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'aao-files-'));
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('creates the vault key 0600 in a directory of its own 0700, and reads the same key back', () => {
    const keyFile = path.join(root, 'new', 'deeper', 'vault.key');
    const key = loadMasterKey({ keyFile });
    expect(key).toHaveLength(32);
    expect([modeOf(path.join(root, 'new')), modeOf(path.dirname(keyFile)), modeOf(keyFile)]).toEqual([0o700, 0o700, 0o600]);
    expect(loadMasterKey({ keyFile }).equals(key)).toBe(true);
  });

  it('refuses a key file that group or others can read', () => {
    const keyFile = path.join(root, 'vault.key');
    loadMasterKey({ keyFile });
    fs.chmodSync(keyFile, 0o640);
    expect(() => loadMasterKey({ keyFile })).toThrow(/readable by group or others/);
  });

  it('creates the data directory 0700 and keeps the mode of one that exists', async () => {
    const dataDir = path.join(root, 'data');
    const config = loadConfig({ DATA_DIR: dataDir, AUTH_TOKENS: 'gateway:gateway-token-for-tests-0001', LOG_LEVEL: 'silent' });
    const services = await createServices(config);
    try {
      expect(modeOf(dataDir)).toBe(0o700);
    } finally {
      await services.close();
    }
    const shared = path.join(root, 'shared');
    fs.mkdirSync(shared, { mode: 0o750 });
    fs.chmodSync(shared, 0o750);
    const again = await createServices(loadConfig({ DATA_DIR: shared, AUTH_TOKENS: 'gateway:gateway-token-for-tests-0001', LOG_LEVEL: 'silent' }));
    try {
      expect(modeOf(shared)).toBe(0o750);
    } finally {
      await again.close();
    }
  });
});
