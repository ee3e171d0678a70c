// Signed approvals: a decision verifies with the key it was signed with, and with no other.
import { ApprovalSignatureError, ApprovalSigner, type SignedDecision } from '../../src/approvals/approval-signing';

const KEY = 'k'.repeat(16) + 'approval-signing-key-for-tests';
const decision: SignedDecision = {
  approvalId: '3f2a1c9e-0000-4000-8000-000000000001',
  taskId: 'task-1',
  callId: 'call-1',
  digest: 'sha256:' + 'ab'.repeat(32),
  policyVersion: 'sha256:' + 'cd'.repeat(32),
  personId: 'bob',
  choice: 'approve_task',
  at: '2025-01-02T03:04:05.000Z',
};

describe('approval signing (JWS)', () => {
  it('verifies a decision with the key it was signed with', async () => {
    const signer = new ApprovalSigner(KEY);
    const jws = await signer.sign(decision);
    expect(jws.split('.')).toHaveLength(3);
    await expect(signer.verify(jws)).resolves.toEqual(decision);
    const withComment = { ...decision, choice: 'deny', comment: 'not this quarter' };
    await expect(signer.verify(await signer.sign(withComment))).resolves.toEqual(withComment);
  });

  it('fails with another key', async () => {
    const jws = await new ApprovalSigner(KEY).sign(decision);
    await expect(new ApprovalSigner('another-key-of-at-least-32-characters!').verify(jws)).rejects.toBeInstanceOf(ApprovalSignatureError);
  });

  it('fails when the payload was changed after signing', async () => {
    const [header, payload, signature] = (await new ApprovalSigner(KEY).sign(decision)).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const forged = Buffer.from(JSON.stringify({ ...claims, personId: 'alice', sub: 'alice' })).toString('base64url');
    await expect(new ApprovalSigner(KEY).verify(`${header}.${forged}.${signature}`)).rejects.toBeInstanceOf(ApprovalSignatureError);
  });

  it('refuses a key shorter than 32 characters', () => {
    expect(() => new ApprovalSigner('short')).toThrow(/APPROVAL_SIGNING_KEY/);
  });
});
