import { ConfigError, hashToken, loadConfig } from '../../src/config/config';

describe('config', () => {
  it('parses tokens into hashes only and applies defaults', () => {
    const c = loadConfig({ AUTH_TOKENS: 'gateway:0123456789abcdef0,admin:fedcba98765432100' });
    expect(c.tokens).toEqual([
      { role: 'gateway', sha256: hashToken('0123456789abcdef0') },
      { role: 'admin', sha256: hashToken('fedcba98765432100') },
    ]);
    expect(JSON.stringify(c)).not.toContain('0123456789abcdef0');
    expect(c.port).toBe(8080);
    expect(c.temporal).toMatchObject({ namespace: 'default', taskQueue: 'agent-tasks' });
  });

  it('names every bad value as NAME=value: why, never echoing secrets', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', AUTH_TOKENS: 'root:supersecretvalue123', TEMPORAL_ADDRESS: 'nohostport' });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.message;
    expect(text).toMatch(/PORT=eighty: /);
    expect(text).toMatch(/DATABASE_URL=mysql:\/\/x: must be a postgres/);
    expect(text).toMatch(/TEMPORAL_ADDRESS=nohostport: must be host:port/);
  });

  it('rejects short tokens and unknown roles without printing them', () => {
    expect(() => loadConfig({ AUTH_TOKENS: 'gateway:short' })).toThrow(/AUTH_TOKENS=<redacted>: the gateway token is shorter than 16/);
    expect(() => loadConfig({ AUTH_TOKENS: 'root:supersecretvalue123' })).toThrow(/AUTH_TOKENS=<redacted>: each item must be role:value/);
    expect(() => loadConfig({ AUTH_TOKENS: 'root:supersecretvalue123' })).not.toThrow(/supersecretvalue123/);
    expect(() => loadConfig({ HR_WEBHOOK_SECRET: 'nope' })).toThrow(/HR_WEBHOOK_SECRET=<redacted>: each secret must look like whsec_/);
  });
});
