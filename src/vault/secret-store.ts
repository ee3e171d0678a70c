// The secret store port: where credentials live. The default encrypts into our own database;
// an adapter for an external vault implements the same three calls.
export type Secret = Record<string, unknown>;

export interface SecretStore {
  get(key: string): Promise<Secret | undefined>;
  put(key: string, value: Secret): Promise<void>;
  /** Destroys the secret; a later get returns undefined. Idempotent. */
  delete(key: string): Promise<void>;
}
