// Approver routing (pure): who answers which step of a route.
import { nextApproverStep, refsOf, type RoutingFacts } from '../../src/approvals/approver-routing';
import type { DirectoryPerson } from '../../src/directory/person';
import type { ApproverRoute } from '../../src/policy/bundle';
import { person } from './fixtures';

const alice = person('alice', { manager: 'bob' });
const everyone = [
  alice,
  person('bob'),
  person('carol'),
  person('erin'),
  person('dave', { active: false }),
  person('zed', { active: false }),
];
const byId = new Map(everyone.map((p) => [p.id, p]));
const groupsOf: Record<string, string[]> = { security: ['carol', 'dave', 'erin'], engineering: ['alice'], gone: ['dave', 'zed'], mixed: ['alice', 'bob'] };

function facts(delegator: DirectoryPerson = alice, owner = 'carol'): RoutingFacts {
  return {
    delegator,
    app: { id: 'crm', owner },
    people: byId,
    groups: new Map(Object.entries(groupsOf).map(([g, ids]) => [g, ids.map((id) => byId.get(id)!)])),
  };
}

const route = (...steps: string[][]): ApproverRoute => ({ id: 'r', steps: steps.map((approvers, i) => ({ approvers, timeoutSeconds: 60 * (i + 1) })) });

const cases: { note: string; route: ApproverRoute; fromStep?: number; delegator?: DirectoryPerson; owner?: string; want: { step: number; approverIds: string[] } | undefined }[] = [
  { note: "the delegating person's manager", route: route(['delegator.manager']), want: { step: 0, approverIds: ['bob'] } },
  { note: "the app's owner", route: route(['app.owner']), want: { step: 0, approverIds: ['carol'] } },
  { note: 'a group: its active members', route: route(['group:security']), want: { step: 0, approverIds: ['carol', 'erin'] } },
  { note: 'a named user', route: route(['user:erin']), want: { step: 0, approverIds: ['erin'] } },
  { note: 'several refs, each person once', route: route(['delegator.manager', 'app.owner', 'group:security', 'user:bob']), owner: 'bob', want: { step: 0, approverIds: ['bob', 'carol', 'erin'] } },
  { note: 'a step with nobody reachable is skipped', route: route(['group:gone'], ['app.owner']), want: { step: 1, approverIds: ['carol'] } },
  { note: 'an inactive manager is skipped', route: route(['delegator.manager'], ['group:security']), delegator: person('alice', { manager: 'dave' }), want: { step: 1, approverIds: ['carol', 'erin'] } },
  { note: 'a person without a manager skips the manager step', route: route(['delegator.manager'], ['user:bob']), delegator: person('alice'), want: { step: 1, approverIds: ['bob'] } },
  { note: 'never the delegating person, even when named', route: route(['user:alice'], ['group:mixed']), want: { step: 1, approverIds: ['bob'] } },
  { note: 'never the delegating person as app owner', route: route(['app.owner'], ['delegator.manager']), owner: 'alice', want: { step: 1, approverIds: ['bob'] } },
  { note: 'from a later step', route: route(['delegator.manager'], ['group:security']), fromStep: 1, want: { step: 1, approverIds: ['carol', 'erin'] } },
  { note: 'nothing left after the last step', route: route(['delegator.manager']), fromStep: 1, want: undefined },
  { note: 'nobody reachable anywhere', route: route(['group:gone'], ['user:nobody'], ['group:engineering']), want: undefined },
  { note: 'an unknown ref names nobody', route: route(['security-team', 'group:'], ['app.owner']), want: { step: 1, approverIds: ['carol'] } },
];

describe('approver routing', () => {
  it.each(cases)('$note', ({ route: r, fromStep = 0, delegator, owner, want }) => {
    const got = nextApproverStep(r, fromStep, facts(delegator, owner));
    if (!want) expect(got).toBeUndefined();
    else expect(got).toEqual({ ...want, timeoutSeconds: r.steps[want.step].timeoutSeconds });
  });

  it('lists the people and groups a route names from a step on, for one fetch', () => {
    const r = route(['delegator.manager', 'group:security'], ['app.owner', 'user:erin', 'group:security']);
    expect(refsOf(r, 0, alice, { owner: 'carol' })).toEqual({ personIds: ['bob', 'carol', 'erin'], groupIds: ['security'] });
    expect(refsOf(r, 1, alice, { owner: 'carol' })).toEqual({ personIds: ['carol', 'erin'], groupIds: ['security'] });
  });
});
