// Approver routing: which people answer a step of an ApproverRoute. Pure — the caller fetches the
// people the refs name (see `refsOf`) and this decides who of them may answer.
import type { DirectoryPerson } from '../directory/person';
import type { App, ApproverRef, ApproverRoute } from '../policy/bundle';

/** The step that answers now: its index in the route, who may answer, and for how long. */
export interface ApproverStep {
  step: number;
  approverIds: string[];
  timeoutSeconds: number;
}

/** What the refs of a route name, fetched by the caller before routing. */
export interface RoutingFacts {
  delegator: DirectoryPerson;
  app?: Pick<App, 'id' | 'owner'>;
  /** People by id (the delegator's manager, the app owner, `user:<id>` refs). */
  people: ReadonlyMap<string, DirectoryPerson>;
  /** Members of each `group:<id>` the route names. */
  groups: ReadonlyMap<string, readonly DirectoryPerson[]>;
}

export type ParsedRef = { kind: 'person'; id: string } | { kind: 'group'; id: string } | { kind: 'unknown'; ref: string };

/** `delegator.manager`, `app.owner`, `group:<id>`, `user:<id>`; anything else names nobody. */
export function parseRef(ref: ApproverRef, delegator: Pick<DirectoryPerson, 'manager'>, app?: Pick<App, 'owner'>): ParsedRef {
  if (ref === 'delegator.manager') return delegator.manager ? { kind: 'person', id: delegator.manager } : { kind: 'unknown', ref };
  if (ref === 'app.owner') return app?.owner ? { kind: 'person', id: app.owner } : { kind: 'unknown', ref };
  if (ref.startsWith('user:') && ref.length > 5) return { kind: 'person', id: ref.slice(5) };
  if (ref.startsWith('group:') && ref.length > 6) return { kind: 'group', id: ref.slice(6) };
  return { kind: 'unknown', ref };
}

/** The person and group ids the steps from `fromStep` on name, so the caller can fetch them in one go. */
export function refsOf(
  route: ApproverRoute,
  fromStep: number,
  delegator: Pick<DirectoryPerson, 'manager'>,
  app?: Pick<App, 'owner'>,
): { personIds: string[]; groupIds: string[] } {
  const personIds = new Set<string>();
  const groupIds = new Set<string>();
  for (const step of route.steps.slice(Math.max(0, fromStep))) {
    for (const ref of step.approvers) {
      const parsed = parseRef(ref, delegator, app);
      if (parsed.kind === 'person') personIds.add(parsed.id);
      if (parsed.kind === 'group') groupIds.add(parsed.id);
    }
  }
  return { personIds: [...personIds], groupIds: [...groupIds] };
}

/** Who of one step's refs may answer: active people, never the person who delegated the task. */
export function approversOf(refs: readonly ApproverRef[], facts: RoutingFacts): string[] {
  const out: string[] = [];
  const add = (p: DirectoryPerson | undefined) => {
    if (p && p.active && p.id !== facts.delegator.id && !out.includes(p.id)) out.push(p.id);
  };
  for (const ref of refs) {
    const parsed = parseRef(ref, facts.delegator, facts.app);
    if (parsed.kind === 'person') add(facts.people.get(parsed.id));
    if (parsed.kind === 'group') for (const member of facts.groups.get(parsed.id) ?? []) add(member);
  }
  return out;
}

/** The first step from `fromStep` on with somebody to answer; undefined when none is left. */
export function nextApproverStep(route: ApproverRoute, fromStep: number, facts: RoutingFacts): ApproverStep | undefined {
  for (let step = Math.max(0, fromStep); step < route.steps.length; step++) {
    const approverIds = approversOf(route.steps[step].approvers, facts);
    if (approverIds.length) return { step, approverIds, timeoutSeconds: route.steps[step].timeoutSeconds };
  }
  return undefined;
}
