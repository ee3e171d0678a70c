// POST /v1/hr/events end to end: only signed, fresh events change anything, each once.
import { Webhook } from 'standardwebhooks';
import { startStack, type Stack } from '../support/stack';
import { createPerson, ENTERPRISE, HR_ENV, HR_SECRETS, scim, signedHrEvent } from '../identity/people';
import { eventually } from '../support/eventually';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: HR_ENV });
});
afterAll(async () => {
  await stack?.stop();
});

const offboardingsOf = (userId: string) => stack.database.db.query<{ offboarding_id: string }>('select offboarding_id from offboardings where user_id = $1', [userId]);

describe('HR events', () => {
  it('offboards on a signed employee.offboarded: inactive before the 202, the workflow after', async () => {
    const p = await createPerson(stack);
    const res = await signedHrEvent(stack, { type: 'employee.offboarded', data: { email: p.email.toUpperCase() } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ offboardingId: `offboarding-${p.id}-${res.id}` });
    expect(await stack.services.directory.user(p.id)).toMatchObject({ active: false });
    const wf = await stack.client.workflow.getHandle(res.body.offboardingId).describe();
    expect(wf.type).toBe('offboardingWorkflow');
    await eventually(async () => (await stack.database.db.query("select 1 from offboardings where offboarding_id = $1 and completed_at is not null", [res.body.offboardingId])).length > 0, 'the offboarding to complete', 30_000);
  });

  it('refuses a bad signature or a stale timestamp with 401 problem+json, changing nothing', async () => {
    const p = await createPerson(stack);
    const event = { type: 'employee.offboarded', data: { userId: p.id } };
    const forged = await signedHrEvent(stack, event, { secret: 'whsec_bm90LXRoZS1oci1zZWNyZXQtYXQtYWxsLTAwMDAw' });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('content-type')).toContain('application/problem+json');
    expect(forged.body).toMatchObject({ status: 401, code: 'invalid_signature' });
    const stale = await signedHrEvent(stack, event, { at: new Date(Date.now() - 10 * 60_000) });
    expect(stale.status).toBe(401);
    const future = await signedHrEvent(stack, event, { at: new Date(Date.now() + 10 * 60_000) });
    expect(future.status).toBe(401);
    const garbled = await signedHrEvent(stack, event, { signature: 'v1,dawfeoifkpqwoekfpqoekf' });
    expect(garbled.status).toBe(401);
    const unsigned = await stack.request('POST', '/v1/hr/events', { token: null, body: event });
    expect(unsigned.status).toBe(401);
    // The signed bytes are the raw body: the same JSON re-serialized differently does not verify.
    const id = 'msg_reformatted';
    const at = new Date();
    const signature = new Webhook(HR_SECRETS[0]).sign(id, at, JSON.stringify(event));
    const reformatted = await stack.request('POST', '/v1/hr/events', {
      token: null,
      body: JSON.stringify(event, null, 2),
      headers: { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature },
    });
    expect(reformatted.status).toBe(401);

    expect(await stack.services.directory.user(p.id)).toMatchObject({ active: true });
    expect(await offboardingsOf(p.id)).toEqual([]);
  });

  it('accepts the previous secret during a rotation', async () => {
    const p = await createPerson(stack);
    const res = await signedHrEvent(stack, { type: 'employee.updated', data: { userId: p.id, title: 'Lead' } }, { secret: HR_SECRETS[1] });
    expect(res.status).toBe(202);
    expect(await stack.services.directory.user(p.id)).toMatchObject({ title: 'Lead' });
  });

  it('processes a webhook-id once: a redelivery gets the same answer and starts nothing new', async () => {
    const p = await createPerson(stack);
    const first = await signedHrEvent(stack, { type: 'employee.offboarded', data: { userId: p.id } });
    expect(first.status).toBe(202);
    const again = await signedHrEvent(stack, { type: 'employee.offboarded', data: { userId: p.id } }, { id: first.id });
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(await offboardingsOf(p.id)).toHaveLength(1);
    const [{ version }] = await stack.database.db.query<{ version: number }>('select version from users where id = $1', [p.id]);
    // A second delivery of an update does not write again either.
    const upd = await signedHrEvent(stack, { type: 'employee.updated', data: { userId: p.id, title: 'Gone' } });
    const updAgain = await signedHrEvent(stack, { type: 'employee.updated', data: { userId: p.id, title: 'Gone' } }, { id: upd.id });
    expect(updAgain.body).toEqual(upd.body);
    const [{ version: after }] = await stack.database.db.query<{ version: number }>('select version from users where id = $1', [p.id]);
    expect(after).toBe(version + 1);
  });

  it('updates the directory on employee.updated', async () => {
    const manager = await createPerson(stack);
    const p = await createPerson(stack);
    const res = await signedHrEvent(stack, {
      type: 'employee.updated',
      data: { email: p.email, department: 'Support', title: 'Support Lead', manager: manager.id, userType: 'Contractor', groups: ['support'] },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ userId: p.id });
    expect(await stack.services.directory.user(p.id)).toMatchObject({ department: 'Support', title: 'Support Lead', manager: manager.id, userType: 'Contractor', groups: ['support'] });
    const viaScim = await scim(stack, 'GET', `/Users/${p.id}`);
    expect(viaScim.body).toMatchObject({ title: 'Support Lead', userType: 'Contractor', [ENTERPRISE]: { department: 'Support', manager: { value: manager.id } } });
    const cleared = await signedHrEvent(stack, { type: 'employee.updated', data: { userId: p.id, manager: null, department: null } });
    expect(cleared.status).toBe(202);
    expect(await stack.services.directory.user(p.id)).toMatchObject({ manager: undefined, department: undefined });
  });

  it('answers 422 for an unknown person and 400 for a malformed event', async () => {
    const unknown = await signedHrEvent(stack, { type: 'employee.offboarded', data: { email: 'nobody@example.com' } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.code).toBe('user_unknown');
    for (const event of [{ type: 'employee.hired', data: { userId: 'x' } }, { type: 'employee.offboarded', data: {} }, { data: { userId: 'alice' } }]) {
      const res = await signedHrEvent(stack, event);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    expect(await stack.services.directory.user('alice')).toMatchObject({ active: true });
  });
});
