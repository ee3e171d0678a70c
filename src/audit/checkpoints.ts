// Signed checkpoints of the trace chain head: a JWS (HS256, a key derived from the service's master
// key) over { tenant, seq, hash, at }, so whoever can rewrite the table cannot re-sign its head.
import { createHmac } from 'node:crypto';
import { compactVerify, CompactSign } from 'jose';

export interface CheckpointClaims {
  tenant: string;
  seq: number;
  hash: string;
  at: string;
}

export interface CheckpointSigner {
  sign(claims: CheckpointClaims): Promise<string>;
  verify(jws: string): Promise<CheckpointClaims>;
}

export function hmacCheckpointSigner(key: Uint8Array): CheckpointSigner {
  return {
    async sign(claims) {
      return new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'HS256', typ: 'trace-checkpoint' }).sign(key);
    },
    async verify(jws) {
      const { payload } = await compactVerify(jws, key, { algorithms: ['HS256'] });
      return JSON.parse(new TextDecoder().decode(payload)) as CheckpointClaims;
    },
  };
}

/** The service's checkpoint signer: its own key, derived from the master key. */
export function serviceCheckpointSigner(masterKey: Buffer): CheckpointSigner {
  return hmacCheckpointSigner(createHmac('sha256', masterKey).update('trace-checkpoints').digest());
}
