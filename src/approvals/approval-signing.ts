// Signed approvals: every human answer the API sends to a workflow is a JWS (HS256, APPROVAL_SIGNING_KEY)
// over what was decided, so a stored or traced decision can be checked against the key later.
import { SignJWT, jwtVerify } from 'jose';

/** What a person decided about a held call, as signed. */
export interface SignedDecision {
  approvalId: string;
  taskId: string;
  callId: string;
  /** The call digest the card was built from: the decision holds for exactly that call. */
  digest: string;
  policyVersion: string;
  personId: string;
  choice: string;
  comment?: string;
  at: string;
}

const ISSUER = 'agent-access-orchestrator';
const TYPE = 'approval+jwt';
const CLAIMS = ['approvalId', 'taskId', 'callId', 'digest', 'policyVersion', 'personId', 'choice', 'at'] as const;

export class ApprovalSignatureError extends Error {
  readonly code = 'approval_signature_invalid';
}

export class ApprovalSigner {
  private readonly key: Uint8Array;

  constructor(secret: string) {
    if (secret.length < 32) throw new Error('APPROVAL_SIGNING_KEY=<redacted>: must be at least 32 characters');
    this.key = new TextEncoder().encode(secret);
  }

  sign(d: SignedDecision): Promise<string> {
    return new SignJWT({ ...d })
      .setProtectedHeader({ alg: 'HS256', typ: TYPE })
      .setIssuer(ISSUER)
      .setSubject(d.personId)
      .setAudience(`task:${d.taskId}`)
      .setIssuedAt(Math.floor(Date.parse(d.at) / 1000))
      .sign(this.key);
  }

  /** The signed decision, or ApprovalSignatureError when the JWS was not made with this key or is malformed. */
  async verify(jws: string): Promise<SignedDecision> {
    try {
      const { payload } = await jwtVerify(jws, this.key, { algorithms: ['HS256'], issuer: ISSUER, typ: TYPE });
      for (const claim of CLAIMS) {
        if (typeof payload[claim] !== 'string') throw new Error(`claim ${claim} is missing`);
      }
      const d = payload as unknown as SignedDecision;
      if (payload.aud !== `task:${d.taskId}` || payload.sub !== d.personId) throw new Error('audience or subject does not match the decision');
      return pick(d);
    } catch (err) {
      throw new ApprovalSignatureError(`The approval signature does not verify: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function pick(d: SignedDecision): SignedDecision {
  const out: SignedDecision = { approvalId: d.approvalId, taskId: d.taskId, callId: d.callId, digest: d.digest, policyVersion: d.policyVersion, personId: d.personId, choice: d.choice, at: d.at };
  if (typeof d.comment === 'string') out.comment = d.comment;
  return out;
}
