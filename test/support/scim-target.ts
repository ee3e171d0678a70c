// A target app's SCIM 2.0 server that no one here wrote: SCIMMY with scimmy-routers on express,
// on a loopback port, over in-memory Maps. Bearer auth, injectable faults and a request log.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';

export const SCIM_BASE_PATH = '/scim/v2';

export interface TargetUser {
  id: string;
  userName: string;
  externalId?: string;
  displayName?: string;
  name?: Record<string, string>;
  emails?: { value: string; type?: string; primary?: boolean }[];
  active: boolean;
}

export interface TargetGroup {
  id: string;
  displayName: string;
  members: { value: string; display?: string }[];
}

/** The next matching request(s) fail; `after` lets the request take effect and only then fails the answer. */
export interface Fault {
  status: number;
  count?: number;
  method?: string;
  /** Matched against the path under the SCIM base, without the query (e.g. /^\/Groups\//). */
  path?: RegExp;
  after?: boolean;
  scimType?: string;
  detail?: string;
  retryAfter?: string;
  /** Runs as the fault fires, e.g. another client creating the same user. */
  meanwhile?: () => void;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: string;
  status: number;
  faulted: boolean;
  body?: unknown;
}

export interface ScimTarget {
  /** Base URL of the SCIM endpoints, e.g. http://127.0.0.1:PORT/scim/v2. */
  url: string;
  token: string;
  users: Map<string, TargetUser>;
  groups: Map<string, TargetGroup>;
  requests: LoggedRequest[];
  addUser(u: Omit<TargetUser, 'id' | 'active'> & { active?: boolean }): TargetUser;
  addGroup(displayName: string, memberIds?: string[]): TargetGroup;
  groupNamed(displayName: string): TargetGroup | undefined;
  membersOf(displayName: string): string[];
  failNext(fault: Fault): void;
  /** The next matching request waits, unanswered, until `release()`; `reached` resolves when it arrives. */
  holdNext(match: Pick<Fault, 'method' | 'path'>): { reached: Promise<void>; release(): void };
  stop(): Promise<void>;
}

interface Store {
  users: Map<string, TargetUser>;
  groups: Map<string, TargetGroup>;
}

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
// SCIMMY's own errors pass `null` for no scimType, though its types ask for a string.
const scimError = (status: number, scimType: string | null, message: string) => new SCIMMY.Types.Error(status, scimType!, message);
const plain = <T>(instance: unknown): T => {
  const { schemas: _schemas, meta: _meta, ...rest } = JSON.parse(JSON.stringify(instance)) as Record<string, unknown>;
  return rest as T;
};

// SCIMMY keeps declared resource types in a process-wide registry: declare them once, and let each
// server's handlers reach its own Maps through the request context.
let declared = false;
function declareResources(): void {
  if (declared) return;
  declared = true;
  SCIMMY.Resources.declare(SCIMMY.Resources.User)
    .egress((resource, store: Store) => {
      if (resource.id) {
        const user = store.users.get(resource.id);
        if (!user) throw scimError(404, null, `Resource ${resource.id} not found`);
        return user;
      }
      const all = [...store.users.values()];
      return (resource.filter ? resource.filter.match(all) : all);
    })
    .ingress((resource, instance, store: Store) => {
      const data = plain<Partial<TargetUser>>(instance);
      if (resource.id && !store.users.has(resource.id)) throw scimError(404, null, `Resource ${resource.id} not found`);
      if (!data.userName) throw scimError(400, 'invalidValue', 'userName is required');
      const clash = [...store.users.values()].find((u) => u.id !== resource.id && u.userName.toLowerCase() === data.userName!.toLowerCase());
      if (clash) throw scimError(409, 'uniqueness', `userName "${data.userName}" is already taken`);
      const user: TargetUser = { ...(data as TargetUser), id: resource.id ?? randomUUID(), active: data.active ?? true };
      store.users.set(user.id, user);
      return user;
    })
    .degress((resource, store: Store) => {
      if (!resource.id || !store.users.delete(resource.id)) throw scimError(404, null, `Resource ${resource.id} not found`);
      for (const g of store.groups.values()) g.members = g.members.filter((m) => m.value !== resource.id);
    });

  SCIMMY.Resources.declare(SCIMMY.Resources.Group)
    .egress((resource, store: Store) => {
      if (resource.id) {
        const group = store.groups.get(resource.id);
        if (!group) throw scimError(404, null, `Resource ${resource.id} not found`);
        return group;
      }
      const all = [...store.groups.values()];
      return (resource.filter ? resource.filter.match(all) : all);
    })
    .ingress((resource, instance, store: Store) => {
      const data = plain<Partial<TargetGroup>>(instance);
      if (resource.id && !store.groups.has(resource.id)) throw scimError(404, null, `Resource ${resource.id} not found`);
      if (!data.displayName) throw scimError(400, 'invalidValue', 'displayName is required');
      // Like most servers: a member must be a known user, and adding a member twice changes nothing.
      const members = new Map<string, { value: string }>();
      for (const m of data.members ?? []) {
        if (!store.users.has(m.value)) throw scimError(400, 'invalidValue', `member ${m.value} is not a user`);
        members.set(m.value, { value: m.value });
      }
      const group: TargetGroup = { id: resource.id ?? randomUUID(), displayName: data.displayName, members: [...members.values()] };
      store.groups.set(group.id, group);
      return group;
    })
    .degress((resource, store: Store) => {
      if (!resource.id || !store.groups.delete(resource.id)) throw scimError(404, null, `Resource ${resource.id} not found`);
    });
}

export async function startScimTarget(opts: { token?: string } = {}): Promise<ScimTarget> {
  declareResources();
  const token = opts.token ?? `scim-target-${randomBytes(12).toString('hex')}`;
  const store: Store = { users: new Map(), groups: new Map() };
  const faults: (Fault & { left: number })[] = [];
  const requests: LoggedRequest[] = [];
  const holds: (Pick<Fault, 'method' | 'path'> & { arrived(): void; released: Promise<void> })[] = [];
  const matches = (f: Pick<Fault, 'method' | 'path'>, req: Request) => (!f.method || f.method === req.method) && (!f.path || f.path.test(req.path));

  const faultsAndLog = (req: Request, res: Response, next: NextFunction) => {
    const hold = holds.find((h) => matches(h, req));
    if (hold) {
      holds.splice(holds.indexOf(hold), 1);
      hold.arrived();
      void hold.released.then(() => faultsAndLog(req, res, next));
      return;
    }
    const path = req.path;
    const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
    const fault = faults.find((f) => f.left > 0 && matches(f, req));
    res.on('finish', () => requests.push({ method: req.method, path, query: decodeURIComponent(query), status: res.statusCode, faulted: !!fault, body: req.body }));
    if (!fault) return next();
    fault.left -= 1;
    fault.meanwhile?.();
    const body = JSON.stringify({ schemas: [ERROR_SCHEMA], status: String(fault.status), scimType: fault.scimType, detail: fault.detail ?? `injected ${fault.status}` });
    const answer = () => {
      res.status(fault.status).type('application/scim+json');
      if (fault.retryAfter) res.setHeader('retry-after', fault.retryAfter);
      return res;
    };
    if (!fault.after) {
      answer().send(body);
      return;
    }
    // Let SCIMMY apply the request, then replace its answer: the client cannot know it took effect.
    const send = res.send;
    res.send = function faultedSend() {
      res.send = send;
      return send.call(answer(), body);
    } as Response['send'];
    next();
  };

  const app = express();
  app.use(SCIM_BASE_PATH, express.json({ type: ['application/scim+json', 'application/json'] }), faultsAndLog);
  app.use(
    SCIM_BASE_PATH,
    new SCIMMYRouters({
      type: 'bearer',
      handler: (req) => {
        if (req.header('authorization') !== `Bearer ${token}`) throw new Error('A valid bearer token is required');
        return 'provisioning-client';
      },
      context: () => store,
    }),
  );
  // scimmy-routers answers errors itself and forwards 5xx on; nothing is left to send.
  app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (!res.headersSent) res.status(500).end();
  });

  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;

  const groupNamed = (displayName: string) => [...store.groups.values()].find((g) => g.displayName === displayName);
  return {
    url: `http://127.0.0.1:${port}${SCIM_BASE_PATH}`,
    token,
    users: store.users,
    groups: store.groups,
    requests,
    addUser(u) {
      const user: TargetUser = { ...u, id: randomUUID(), active: u.active ?? true };
      store.users.set(user.id, user);
      return user;
    },
    addGroup(displayName, memberIds = []) {
      const group: TargetGroup = { id: randomUUID(), displayName, members: memberIds.map((value) => ({ value })) };
      store.groups.set(group.id, group);
      return group;
    },
    groupNamed,
    membersOf: (displayName) => (groupNamed(displayName)?.members ?? []).map((m) => m.value),
    failNext(fault) {
      faults.push({ ...fault, left: fault.count ?? 1 });
    },
    holdNext(match) {
      let arrived!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((r) => (arrived = r));
      holds.push({ ...match, arrived, released: new Promise<void>((r) => (release = r)) });
      return { reached, release };
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
