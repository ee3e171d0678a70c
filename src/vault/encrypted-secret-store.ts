// The default secret store: AES-256-GCM in the database, a fresh IV per write, the key name
// bound as additional data so a ciphertext cannot be moved to another key.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SqlClient } from '../db/sql';
import type { Secret, SecretStore } from './secret-store';

export class EncryptedSecretStore implements SecretStore {
  constructor(
    private readonly db: SqlClient,
    private readonly key: Buffer,
  ) {}

  async get(name: string): Promise<Secret | undefined> {
    const [row] = await this.db.query<{ iv: string; tag: string; ciphertext: string }>('select iv, tag, ciphertext from secrets where name = $1', [name]);
    if (!row) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(row.iv, 'base64'));
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(Buffer.from(row.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(row.ciphertext, 'base64')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as Secret;
  }

  async put(name: string, value: Secret): Promise<void> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(name));
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    await this.db.query(
      `insert into secrets (name, iv, tag, ciphertext) values ($1, $2, $3, $4)
       on conflict (name) do update set iv = excluded.iv, tag = excluded.tag, ciphertext = excluded.ciphertext, updated_at = now()`,
      [name, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ciphertext.toString('base64')],
    );
  }

  async delete(name: string): Promise<void> {
    await this.db.query('delete from secrets where name = $1', [name]);
  }
}
