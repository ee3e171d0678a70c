// The schema, as ordered migrations. Never edit a released migration: add the next one.
export interface Migration {
  id: string;
  sql: string;
}

const directory = `
create table users (
  id text primary key,
  user_name text not null,
  external_id text,
  display_name text,
  title text,
  department text,
  user_type text,
  manager_id text,
  email text,
  slack_user_id text,
  active boolean not null default true,
  resource jsonb not null default '{}'::jsonb,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index users_user_name on users (lower(user_name));
create index users_email on users (lower(email));

create table groups (
  id text primary key,
  display_name text not null,
  resource jsonb not null default '{}'::jsonb,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create table group_members (
  group_id text not null references groups(id) on delete cascade,
  user_id text not null,
  primary key (group_id, user_id)
);
create index group_members_user on group_members (user_id);

create table agents (
  id text primary key,
  name text not null,
  owner_id text,
  active boolean not null default true,
  orphaned boolean not null default false,
  resource jsonb not null default '{}'::jsonb,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Standing access a person holds in an app (from the IdP or earlier JIT grants), by entitlement.
create table person_access (
  user_id text not null,
  app_id text not null,
  entitlement_id text not null,
  source text not null default 'directory',
  primary key (user_id, app_id, entitlement_id)
);
`;

const tasks = `
-- The projection of each task workflow's context, written by its activities (the workflow is the
-- single writer); the API decides in-context calls from it without a Temporal round trip.
create table tasks (
  task_id text primary key,
  tenant text not null,
  user_id text not null,
  agent_id text not null,
  purpose text,
  status text not null check (status in ('active','ended','revoked','expired')),
  workflow_id text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  ended_at timestamptz,
  ended_reason text,
  session jsonb not null default '{}'::jsonb
);
create index tasks_user_active on tasks (user_id) where status = 'active';

create table grants (
  task_id text not null references tasks(task_id),
  tool_id text not null,
  app_id text not null,
  via text not null check (via in ('policy','user-confirmation','approval','provisioning')),
  scope text not null default 'task',
  granted_at timestamptz not null default now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  revoke_status text,
  primary key (task_id, tool_id)
);
create index grants_live on grants (task_id) where revoked_at is null;

create table credential_refs (
  ref_hash text primary key,
  ref_id text not null unique,
  task_id text not null references tasks(task_id),
  agent_id text not null,
  tool_id text not null,
  app_id text not null,
  secret_key text,
  expires_at timestamptz not null,
  revoked_at timestamptz
);
create index credential_refs_task on credential_refs (task_id);

create table policy_versions (
  version text primary key,
  bundle jsonb not null,
  created_at timestamptz not null default now()
);
create table policy_active (
  singleton boolean primary key default true check (singleton),
  version text not null references policy_versions(version),
  activated_at timestamptz not null default now()
);
`;

const traces = `
-- The Decision Trace: append-only and hash-chained per tenant. Every queryable column is generated
-- from the hashed body, so a column can never disagree with what the chain covers.
create table decision_traces (
  tenant text not null,
  seq bigint not null,
  trace_id text not null unique,
  kind text not null,
  occurred_at timestamptz not null,
  body jsonb not null,
  prev_hash text not null,
  hash text not null,
  task_id text generated always as (body->>'taskId') stored,
  call_id text generated always as (body->>'callId') stored,
  user_id text generated always as (body->>'userId') stored,
  agent_id text generated always as (body->>'agentId') stored,
  tool_id text generated always as (body->>'toolId') stored,
  app_id text generated always as (body->>'appId') stored,
  action_class text generated always as (body->>'actionClass') stored,
  decision text generated always as (body->>'decision') stored,
  reason_code text generated always as (body->>'reasonCode') stored,
  policy_version text generated always as (body->>'policyVersion') stored,
  primary key (tenant, seq)
);
create unique index decision_traces_call on decision_traces (task_id, call_id) where kind = 'decision';
create index decision_traces_task on decision_traces (task_id, occurred_at);
create index decision_traces_user on decision_traces (lower(user_id), occurred_at);
create index decision_traces_agent on decision_traces (lower(agent_id), occurred_at);
create index decision_traces_app on decision_traces (lower(app_id), occurred_at);
create index decision_traces_decision on decision_traces (lower(decision), occurred_at);
create index decision_traces_time on decision_traces (occurred_at);

create table trace_chain_heads (
  tenant text primary key,
  seq bigint not null,
  hash text not null
);

create table trace_checkpoints (
  tenant text not null,
  seq bigint not null,
  hash text not null,
  at timestamptz not null,
  jws text not null,
  primary key (tenant, seq)
);

create function refuse_trace_mutation() returns trigger language plpgsql as $$
begin
  raise exception 'decision_traces is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
end $$;
create trigger decision_traces_no_update before update or delete on decision_traces
  for each row execute function refuse_trace_mutation();
create trigger decision_traces_no_truncate before truncate on decision_traces
  for each statement execute function refuse_trace_mutation();
`;

const approvals = `
-- Escalated calls and person confirmations waiting for a human; the projection the Slack handler
-- and GET /v1/tasks read. The task workflow holds the truth and writes these rows.
create table approvals (
  approval_id text primary key,
  kind text not null check (kind in ('approval','confirmation')),
  task_id text not null references tasks(task_id),
  call_id text not null,
  tool_id text not null,
  digest text not null,
  policy_version text not null,
  route text,
  step integer not null default 0,
  approver_ids jsonb not null default '[]'::jsonb,
  messages jsonb not null default '[]'::jsonb,
  deadline timestamptz,
  status text not null default 'pending' check (status in ('pending','approved','denied','timed_out','cancelled')),
  decided_by text,
  choice text,
  decided_at timestamptz,
  jws text,
  created_at timestamptz not null default now(),
  unique (task_id, call_id)
);
create index approvals_pending on approvals (task_id) where status = 'pending';

-- What just-in-time provisioning created for a task, so collapse removes exactly that.
create table jit_grants (
  task_id text not null references tasks(task_id),
  app_id text not null,
  entitlement_id text not null,
  account_id text not null,
  account_created boolean not null,
  entitlement_granted boolean not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  revoke_status text,
  last_error text,
  primary key (task_id, app_id, entitlement_id)
);
`;

const secrets = `
-- The default secret store: AES-256-GCM ciphertexts (the key never touches the database).
create table secrets (
  name text primary key,
  iv text not null,
  tag text not null,
  ciphertext text not null,
  updated_at timestamptz not null default now()
);
`;

const traceRetention = `
-- Retention without breaking the chain: DELETE is allowed only for the records of one tenant up to
-- a seq that a signed checkpoint covers, and only inside a transaction that names that cut
-- (TraceStore.prune). UPDATE and TRUNCATE stay refused; the checkpoint anchors what remains.
create or replace function refuse_trace_mutation() returns trigger language plpgsql as $$
declare
  cut_tenant text := nullif(current_setting('agent_access.prune_tenant', true), '');
  cut_seq text := nullif(current_setting('agent_access.prune_through', true), '');
begin
  if tg_op = 'DELETE' and cut_tenant = old.tenant and old.seq <= cut_seq::bigint
     and exists (select 1 from trace_checkpoints c where c.tenant = old.tenant and c.seq = cut_seq::bigint) then
    return old;
  end if;
  raise exception 'decision_traces is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
end $$;
`;

/**
 * The group commit's first step (in a PL/pgSQL function with `head trace_chain_heads`): locks the
 * tenant's chain head into `head`, created at seq 0 (p_genesis) when missing.
 */
const LOCK_CHAIN_HEAD = `  select * into head from trace_chain_heads where tenant = p_tenant for update;
  if not found then
    insert into trace_chain_heads (tenant, seq, hash) values (p_tenant, 0, p_genesis) on conflict do nothing;
    select * into head from trace_chain_heads where tenant = p_tenant for update;
  end if;
`;

const traceBatchFunctions = `
-- The Decision Trace group commit (TraceStore.commit) in two statements, each calling functions:
-- a batch costs two round trips besides BEGIN and COMMIT, not eight.
--
-- A query over a table that grows (decision_traces, tasks) runs through EXECUTE, planned at each
-- call like any statement the application sends: PL/pgSQL would otherwise keep the plan it made
-- when the table was small, and on PGlite (no autovacuum, so no ANALYZE to invalidate it) a
-- sequential scan chosen over a handful of rows would scan the whole table on every batch.

-- Locks the tenant's chain head (created at seq 0 when missing) and returns it with the decisions
-- and escalations already recorded for the given calls, in chain order. Each statement of a
-- (volatile) function takes its own snapshot: the calls are read after the lock is held, so they
-- include what the previous holder of the head committed.
create function trace_batch_open(p_tenant text, p_genesis text, p_task_ids text[], p_call_ids text[]) returns jsonb
language plpgsql as $$
declare
  head trace_chain_heads;
  calls jsonb;
begin
${LOCK_CHAIN_HEAD}  execute $q$
    select coalesce(jsonb_agg(to_jsonb(c) order by c.seq), '[]'::jsonb)
      from (select tenant, seq, trace_id, kind, occurred_at, body, prev_hash, hash from decision_traces
             where kind in ('decision', 'escalation') and (task_id, call_id) in (select * from unnest($1::text[], $2::text[]))) c
  $q$ into calls using p_task_ids, p_call_ids;
  return jsonb_build_object('seq', head.seq, 'hash', head.hash, 'calls', calls);
end $$;

-- Appends the chained records (a JSON array, in seq order) and moves the head to the last one.
create function trace_batch_write(p_tenant text, p_seq bigint, p_hash text, p_records jsonb) returns void
language plpgsql as $$
begin
  insert into decision_traces (tenant, seq, trace_id, kind, occurred_at, body, prev_hash, hash)
    select p_tenant, r.seq, r.trace_id, r.kind, r.occurred_at, r.body, r.prev_hash, r.hash
      from jsonb_to_recordset(p_records) as r(seq bigint, trace_id text, kind text, occurred_at timestamptz, body jsonb, prev_hash text, hash text);
  update trace_chain_heads set seq = p_seq, hash = p_hash where tenant = p_tenant;
end $$;

-- Session counters (TaskRepository.sessionCounters), joined to those two statements: the sessions
-- of the given tasks, locked in task order, as {taskId: session}; and writing them back.
create function task_sessions_for_update(p_task_ids text[]) returns jsonb
language plpgsql as $$
declare
  sessions jsonb;
begin
  execute $q$
    select coalesce(jsonb_object_agg(s.task_id, s.session), '{}'::jsonb)
      from (select task_id, session from tasks where task_id = any($1::text[]) order by task_id for update) s
  $q$ into sessions using p_task_ids;
  return sessions;
end $$;

create function task_sessions_write(p_sessions jsonb) returns void
language plpgsql as $$
begin
  execute $q$
    update tasks t set session = s.value from jsonb_each($1::jsonb) s where t.task_id = s.key
  $q$ using p_sessions;
end $$;
`;

/**
 * The group commit's function as migration 014 created it (015 replaces it, fixed): appends a batch
 * of records to the tenant's chain, as the comment before it in 014's SQL (traceBatchAppend) says.
 */
const TRACE_BATCH_APPEND = `create function trace_batch_append(p_tenant text, p_genesis text, p_bodies text[], p_mids text[], p_tails text[],
                                   p_ids text[], p_kinds text[], p_ats text[], p_tasks text[], p_calls text[],
                                   p_holds boolean[], p_counts text[], p_session_tasks text[]) returns jsonb
language plpgsql set enable_seqscan = off set plan_cache_mode = force_generic_plan as $$
declare
  head trace_chain_heads;
  decided jsonb;
  held jsonb;
  keys text[];
  -- Whether any item may be answered instead of appended: a call recorded before, or one the
  -- batch holds twice or escalates. Rare; without it every item is appended.
  check_calls boolean;
  i int;
  n int := 0;
  p int;
  positions int[];
  tally jsonb;
  cur_seq bigint;
  cur_hash text;
  s jsonb;
  dec_keys text[] := '{}';
  dec_items int[] := '{}';
  esc_keys text[] := '{}';
  esc_items int[] := '{}';
  fresh int[] := '{}';
  hashes text[] := '{}';
  afters jsonb[] := '{}';
  known jsonb := '{}';
  same jsonb := '{}';
  sess_tasks text[];
  sess_vals jsonb[];
  sess_dirty boolean[];
begin
${LOCK_CHAIN_HEAD}  select coalesce(array_agg(t.task_id order by t.task_id), '{}'), coalesce(array_agg(t.session order by t.task_id), '{}')
    into sess_tasks, sess_vals
    from (select task_id, session from tasks where task_id = any(p_session_tasks) order by task_id for update) t;
  sess_dirty := array_fill(false, array[cardinality(sess_tasks)]);
  -- A statement of its own, so a snapshot of its own: taken after the lock is held.
  select coalesce(jsonb_object_agg(length(c.task_id) || ':' || c.task_id || c.call_id, to_jsonb(c) order by c.seq) filter (where c.kind = 'decision'), '{}'),
         coalesce(jsonb_object_agg(length(c.task_id) || ':' || c.task_id || c.call_id, to_jsonb(c) order by c.seq) filter (where c.kind = 'escalation'), '{}')
    into decided, held
    from (select tenant, seq, trace_id, kind, occurred_at, body, prev_hash, hash, task_id, call_id from decision_traces
           where kind in ('decision', 'escalation')
             and (task_id, call_id) in (select b.t, b.c from unnest(p_tasks, p_calls, p_kinds) as b(t, c, k) where b.k = 'decision')) c;
  keys := array(select length(b.t) || ':' || b.t || b.c from unnest(p_tasks, p_calls) with ordinality as b(t, c, n) order by b.n);
  check_calls := decided <> '{}' or held <> '{}'
    or exists (select from unnest(keys, p_kinds) as b(k, kind) where k is not null group by k having count(*) > 1 or bool_or(kind = 'escalation'));
  cur_seq := head.seq;
  cur_hash := head.hash;
  for i in 1 .. cardinality(p_kinds) loop
    if check_calls and keys[i] is not null then
      if p_kinds[i] = 'decision' then
        -- Decided earlier in this batch or before it; else, under unlessHeld, held by the call's
        -- latest escalation (one in this batch is later than any before it).
        p := array_position(dec_keys, keys[i]);
        if p is not null then
          same := same || jsonb_build_object(i::text, dec_items[p]);
          continue;
        elsif decided ? keys[i] then
          known := known || jsonb_build_object(i::text, decided -> keys[i]);
          continue;
        elsif p_holds[i] then
          positions := array_positions(esc_keys, keys[i]);
          if cardinality(positions) > 0 then
            same := same || jsonb_build_object(i::text, esc_items[positions[cardinality(positions)]]);
            continue;
          elsif held ? keys[i] then
            known := known || jsonb_build_object(i::text, held -> keys[i]);
            continue;
          end if;
        end if;
        dec_keys := dec_keys || keys[i];
        dec_items := dec_items || i;
      elsif p_kinds[i] = 'escalation' then
        esc_keys := esc_keys || keys[i];
        esc_items := esc_items || i;
      end if;
    end if;
    n := n + 1;
    cur_seq := cur_seq + 1;
    cur_hash := encode(sha256(convert_to('{"body":' || p_bodies[i] || p_mids[i] || cur_hash || '","seq":' || cur_seq || p_tails[i], 'UTF8')), 'hex');
    fresh[n] := i;
    hashes[n] := cur_hash;
    if p_counts[i] is not null then
      tally := p_counts[i]::jsonb;
      p := array_position(sess_tasks, tally->>'taskId');
      if p is not null then
        s := task_session_record_call(sess_vals[p], tally->'call');
        sess_vals[p] := s;
        sess_dirty[p] := true;
        afters[n] := s;
      end if;
    end if;
  end loop;
  if n > 0 then
    insert into decision_traces (tenant, seq, trace_id, kind, occurred_at, body, prev_hash, hash)
      select p_tenant, head.seq + f.j, r.id, r.kind, r.at::timestamptz, r.body::jsonb, coalesce(lag(f.h) over (order by f.j), head.hash), f.h
        from unnest(fresh, hashes) with ordinality as f(i, h, j)
        join unnest(p_ids, p_kinds, p_ats, p_bodies) with ordinality as r(id, kind, at, body, n) on r.n = f.i;
    update trace_chain_heads set seq = cur_seq, hash = cur_hash where tenant = p_tenant;
    update tasks t set session = v.s from unnest(sess_tasks, sess_vals, sess_dirty) as v(task_id, s, dirty) where v.dirty and t.task_id = v.task_id;
  end if;
  return jsonb_build_object('seq', head.seq, 'hash', head.hash, 'fresh', to_jsonb(fresh), 'hashes', to_jsonb(hashes),
                            'sessions', to_jsonb(afters), 'known', known, 'same', same);
end $$;
`;

const traceBatchAppend = `
-- The Decision Trace group commit (TraceStore.commit) as one statement: the database chains the
-- batch while it holds the chain head, so the head is held for one round trip, not two with the
-- application's turn in between, and a batch without other writes commits with it.

-- A call counted into a task's session (SessionState in src/policy/session.ts): one more call, of
-- its action, tool and app; a data classification read for the first time joins the list. The
-- session starts from the empty one (what a task row's '{}' means).
create function task_session_record_call(s jsonb, c jsonb) returns jsonb
language plpgsql immutable as $$
declare
  action text := c->>'action';
  tool text := c->>'toolId';
  app text := c->>'appId';
  dc text := c->>'dataClassification';
  read jsonb;
begin
  s := '{"calls":0,"actions":{"Read":0,"Write":0,"Destructive":0,"External":0},"tools":{},"apps":{},"dataClassificationsRead":[]}'::jsonb || s;
  read := s->'dataClassificationsRead';
  return jsonb_build_object(
    'calls', coalesce((s->>'calls')::bigint, 0) + 1,
    'actions', (s->'actions') || jsonb_build_object(action, coalesce((s->'actions'->>action)::bigint, 0) + 1),
    'tools', (s->'tools') || jsonb_build_object(tool, coalesce((s->'tools'->>tool)::bigint, 0) + 1),
    'apps', (s->'apps') || jsonb_build_object(app, coalesce((s->'apps'->>app)::bigint, 0) + 1),
    'dataClassificationsRead', case when action = 'Read' and coalesce(dc, '') <> '' and not (read ? dc) then read || to_jsonb(dc) else read end);
end $$;

-- Appends a batch of records to the tenant's chain. Each record is an item of the arrays, in the
-- order appended:
-- * its hashed content around its place in the chain: '{"body":' || body || mid || prevHash ||
--   '","seq":' || seq || tail is exactly what recordHash (src/audit/chain.ts) hashes, body being
--   its canonical JSON and mid and tail the JSON the application wrote;
-- * trace id, kind and time as stored; task and call when the body names them; holds (unlessHeld);
--   counts: the session count of an allowed call ({taskId, call} as JSON), else null.
-- A decision for a call already decided (before or earlier in the batch) is not appended: its
-- recorded decision answers it, or under unlessHeld the call's latest escalation. Locks the head,
-- then the counted tasks (p_session_tasks, sorted) in task order: the lock order of every batch.
-- Returns the head it started from, the items appended (1-based, in chain order) with their hashes
-- and sessions after their count, and the items answered by a recorded row (known) or by an
-- earlier item of the batch (same).
${TRACE_BATCH_APPEND}
-- Replaced by trace_batch_append.
drop function trace_batch_open(text, text, text[], text[]);
drop function trace_batch_write(text, bigint, text, jsonb);
drop function task_sessions_for_update(text[]);
drop function task_sessions_write(jsonb);
`;

/** `text` with its one occurrence of `from` replaced: a later migration's edit of an earlier one's SQL. */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`expected exactly one ${JSON.stringify(from)}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

const TRACE_BATCH_APPEND_SESSIONS_IN_PLACE = replaceOnce(
  TRACE_BATCH_APPEND,
  "afters jsonb[] := '{}';",
  'afters jsonb[] := array_fill(null::jsonb, array[cardinality(p_kinds)]);',
);

/** 017's fence: which items' grants are gone (see traceBatchAppendFenced); 018 replaces it. */
const FENCE_017 = `  gone := array(select f.tool is not null and not exists (
                  select from grants g join tasks t on t.task_id = g.task_id
                   where g.task_id = f.task and g.tool_id = f.tool and g.revoked_at is null and t.status = 'active')
                from unnest(p_tasks, p_fences) with ordinality as f(task, tool, n) order by f.n);
`;

/**
 * 015's function with fences: an in-context allow (p_fences: the tool whose live grant it relied
 * on) is appended only if that grant is live and its task active once the batch holds the chain
 * head; else it is left out, uncounted, and returned in `stale`. A revocation commits under the same
 * head (its record and the grant's update in one transaction), so no allow read from a context
 * before it is chained after it.
 */
const traceBatchAppendFenced = [
  ['p_session_tasks text[]) returns jsonb', 'p_session_tasks text[], p_fences text[]) returns jsonb'],
  ["  same jsonb := '{}';\n", "  same jsonb := '{}';\n  stale int[] := '{}';\n  gone boolean[];\n"],
  [
    '  sess_dirty := array_fill(false, array[cardinality(sess_tasks)]);\n',
    `  sess_dirty := array_fill(false, array[cardinality(sess_tasks)]);
  -- After the head (and the allowed calls' tasks) are locked: what a revocation committed is seen.
${FENCE_017}`,
  ],
  ['        dec_keys := dec_keys || keys[i];\n        dec_items := dec_items || i;\n      elsif', '      elsif'],
  [
    '    end if;\n    n := n + 1;\n',
    `    end if;
    if gone[i] then
      stale := stale || i;
      continue;
    end if;
    if check_calls and keys[i] is not null and p_kinds[i] = 'decision' then
      dec_keys := dec_keys || keys[i];
      dec_items := dec_items || i;
    end if;
    n := n + 1;
`,
  ],
  ["'known', known, 'same', same);", "'known', known, 'same', same, 'stale', to_jsonb(stale));"],
].reduce((sql, [from, to]) => replaceOnce(sql, from, to), TRACE_BATCH_APPEND_SESSIONS_IN_PLACE);

/**
 * 017's function with the task's person and agent in the fence: an in-context allow is appended
 * only if, besides its grant and its task, the person is active and the agent active and not
 * orphaned as the batch reads them. The offboarding (or the agent's deactivation) appends no
 * record, so this orders nothing in the chain; what it gives is that a call decided after the
 * change committed is never allowed, by whichever process decides it and whatever that process's
 * projection has heard yet (it is decided again from a fresh read, person and agent included).
 *
 * Each item is looked up by its own keys, in a lateral join with a limit. 017's NOT EXISTS was
 * planned (generic plan, once per connection) as a hashed subplan: one scan of every live grant
 * joined to every active task, at every batch — 50 × 50 rows in the bench, ~235 µs of the batch's
 * ~880 µs of PostgreSQL CPU, and growing with the active tasks. A limit keeps the lookup correlated.
 */
const traceBatchAppendFencedByPerson = replaceOnce(
  replaceOnce(traceBatchAppendFenced, 'create function', 'create or replace function'),
  FENCE_017,
  `  gone := array(select f.tool is not null and live.ok is null
                from unnest(p_tasks, p_fences) with ordinality as f(task, tool, n)
                left join lateral (
                  select true as ok from grants g join tasks t on t.task_id = g.task_id
                   where g.task_id = f.task and g.tool_id = f.tool and g.revoked_at is null and t.status = 'active'
                     and exists (select from users u where u.id = t.user_id and u.active)
                     and exists (select from agents a where a.id = t.agent_id and a.active and not a.orphaned)
                   limit 1) live on true
                order by f.n);
`,
);

export const MIGRATIONS: Migration[] = [
  { id: '001_directory', sql: directory },
  { id: '002_tasks', sql: tasks },
  { id: '003_traces', sql: traces },
  { id: '004_approvals', sql: approvals },
  { id: '005_secrets', sql: secrets },
  {
    id: '006_provisioning',
    sql: `
-- Just-in-time provisioning steps, one row per (task, app, step), written on a step's first
-- attempt before it changes the target: whether the target already held the account or
-- membership, so a retry after an unknown outcome reports the same answer (exactly-once).
create table provisioning_intents (
  task_id text not null,
  app_id text not null,
  step text not null,
  account_id text,
  pre_existing boolean not null,
  undo_started_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (task_id, app_id, step)
);
`,
  },
  {
    id: '007_identity',
    sql: `
-- Identity lifecycle: SCIM resources, signed HR events and offboardings.
-- A deleted person keeps their row (tasks and traces name them) but frees the userName.
alter table users add column deleted_at timestamptz;
drop index users_user_name;
create unique index users_user_name on users (lower(user_name)) where deleted_at is null;
create index users_external_id on users (external_id);
create index agents_owner on agents (owner_id);

create table agentic_applications (
  id text primary key,
  name text not null,
  resource jsonb not null default '{}'::jsonb,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- HR webhooks by webhook-id: a redelivery gets the first answer and changes nothing.
create table hr_webhook_events (
  webhook_id text primary key,
  type text not null,
  response jsonb,
  received_at timestamptz not null default now(),
  processed_at timestamptz
);

-- One row per offboarding, written in the transaction that deactivates the person, so a
-- workflow whose start failed is started by the next write for that person.
create table offboardings (
  offboarding_id text primary key,
  user_id text not null,
  trigger text not null check (trigger in ('hr','scim_patch','scim_delete')),
  requested_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  summary_trace_id text
);
create index offboardings_user on offboardings (user_id);
`,
  },
  { id: '008_trace_retention', sql: traceRetention },
  {
    id: '009_trace_call_lookup',
    // A call's decision or escalation is looked up on every request (idempotent callIds): by
    // index, not by scanning every record of a long task.
    sql: 'create index decision_traces_call_lookup on decision_traces (task_id, call_id)',
  },
  {
    id: '007_identity_filter_indexes',
    // SCIM filters IdPs and admins send (department, manager.value) read these, not the whole table.
    sql: 'create index users_department on users (lower(department)); create index users_manager on users (manager_id);',
  },
  {
    id: '010_projection_notify',
    // Every change that can take access away (or give it) tells each process's live projection
    // which entry to forget, at commit. Session counters change on every call and are not sent:
    // each process keeps those from its own commits (see LiveProjection).
    sql: `
create function notify_projection() returns trigger language plpgsql as $$
declare r jsonb;
begin
  if tg_op = 'DELETE' then r := to_jsonb(old); else r := to_jsonb(new); end if;
  perform pg_notify('projection', tg_argv[0] || ':' || (r ->> tg_argv[1]));
  return null;
end $$;
create trigger users_projection after insert or update or delete on users for each row execute function notify_projection('user', 'id');
create trigger group_members_projection after insert or update or delete on group_members for each row execute function notify_projection('user', 'user_id');
create trigger agents_projection after insert or update or delete on agents for each row execute function notify_projection('agent', 'id');
create trigger tasks_projection after update of status, expires_at on tasks for each row execute function notify_projection('task', 'task_id');
create trigger grants_projection after insert or update or delete on grants for each row execute function notify_projection('task', 'task_id');
create trigger credential_refs_projection after insert or update or delete on credential_refs for each row execute function notify_projection('task', 'task_id');
`,
  },
  { id: '011_trace_batch_functions', sql: traceBatchFunctions },
  {
    id: '012_trace_insert_indexes',
    // Every appended record maintains every index of decision_traces: ten for an allowed decision
    // (most records, all of the in-context path's), seven from now on. Every filter that had an
    // index keeps one, except `decision eq "allow"` (see below).
    // * One index per call instead of three: the unique (task_id, call_id) of decisions, the lookup
    //   of any record by (task_id, call_id) (009) and (task_id, occurred_at) merge into one unique
    //   index whose third column is true for decisions and null otherwise (nulls never conflict):
    //   one decision per call as before, and any record found by call or by task (a task's records
    //   are few; the filter orders by seq, not occurred_at, anyway).
    // * Decisions by outcome only where the outcome is not 'allow': the other outcomes are the rare
    //   ones worth an index (a query for lower(decision) = 'deny' implies the predicate), while a
    //   filter on 'allow' matches most records and reads the table whatever the index.
    sql: `
drop index decision_traces_call;
drop index decision_traces_call_lookup;
drop index decision_traces_task;
create unique index decision_traces_call on decision_traces (task_id, call_id, (case when kind = 'decision' then true end));
drop index decision_traces_decision;
create index decision_traces_decision on decision_traces (lower(decision), occurred_at) where lower(decision) <> 'allow';
`,
  },
  {
    id: '013_trace_batch_cached_plans',
    // The group commit's reads and writes as static SQL again, planned once per connection, not at
    // every batch: planning them was most of a PGlite batch's own work. Migration 011 planned them
    // at each call for one reason: a plan cached while a table was small scans it whole once it
    // has grown (PGlite never runs ANALYZE to replace it). With sequential scans priced out inside
    // these functions, the plan made on an empty table reads the indexes as well, and stays right
    // at any size. The generic plan is forced: left to choose, PL/pgSQL re-plans the lookup by
    // (task, call) pairs at every call, its custom plan looking cheaper (measured on PGlite, a
    // batch of two calls: 0.70 ms → 0.17 ms).
    sql: `
create or replace function trace_batch_open(p_tenant text, p_genesis text, p_task_ids text[], p_call_ids text[]) returns jsonb
language plpgsql set enable_seqscan = off set plan_cache_mode = force_generic_plan as $$
declare
  head trace_chain_heads;
  calls jsonb;
begin
${LOCK_CHAIN_HEAD}  -- A statement of its own, so a snapshot of its own: taken after the lock is held.
  select coalesce(jsonb_agg(to_jsonb(c) order by c.seq), '[]'::jsonb) into calls
    from (select tenant, seq, trace_id, kind, occurred_at, body, prev_hash, hash from decision_traces
           where kind in ('decision', 'escalation') and (task_id, call_id) in (select * from unnest(p_task_ids, p_call_ids))) c;
  return jsonb_build_object('seq', head.seq, 'hash', head.hash, 'calls', calls);
end $$;

create or replace function task_sessions_for_update(p_task_ids text[]) returns jsonb
language plpgsql set enable_seqscan = off set plan_cache_mode = force_generic_plan as $$
declare
  sessions jsonb;
begin
  select coalesce(jsonb_object_agg(s.task_id, s.session), '{}'::jsonb) into sessions
    from (select task_id, session from tasks where task_id = any(p_task_ids) order by task_id for update) s;
  return sessions;
end $$;

create or replace function task_sessions_write(p_sessions jsonb) returns void
language plpgsql set enable_seqscan = off set plan_cache_mode = force_generic_plan as $$
begin
  update tasks t set session = s.value from jsonb_each(p_sessions) s where t.task_id = s.key;
end $$;
`,
  },
  { id: '014_trace_batch_append', sql: traceBatchAppend },
  {
    id: '015_trace_batch_sessions_in_place',
    // 014's function returned each appended item's session (as of its call) in an array filled from
    // its first counted item on: a PL/pgSQL array assigned first at [k] starts at k, so when a
    // batch's first new item counted nothing (a denial, say), the sessions came back shifted and
    // an item could be given another task's. The array now starts filled with nulls.
    sql: replaceOnce(TRACE_BATCH_APPEND_SESSIONS_IN_PLACE, 'create function', 'create or replace function'),
  },
  {
    id: '016_person_app_locks',
    // A person's access in an app with person accounts is changed by one provisioning step at a time,
    // or by tasks removing their JIT access, which may share it (activities/provisioning/person-app-locks.ts).
    // A lease: a holder that dies stops blocking the others when it expires.
    sql: `
create table person_app_locks (
  app_id text not null,
  user_id text not null,
  kind text not null check (kind in ('step', 'removal')),
  holders text[] not null,
  expires_at timestamptz not null,
  primary key (app_id, user_id)
);
create index person_app_locks_holders on person_app_locks using gin (holders);
-- A journal row handed over from another task (activities/hand-over.ts) names that task's saga, not
-- one of the receiver's: it is no saga under way.
alter table provisioning_intents add column handed_from text;
-- The removals a task decided under its hold: the hold ends when the last of them in the app is done.
create table person_app_removals (
  task_id text not null,
  app_id text not null,
  entitlement_id text not null,
  primary key (task_id, app_id, entitlement_id)
);
`,
  },
  {
    id: '017_trace_batch_fences',
    sql: `drop function trace_batch_append(text, text, text[], text[], text[], text[], text[], text[], text[], text[], boolean[], text[], text[]);
${traceBatchAppendFenced}`,
  },
  { id: '018_trace_batch_person_fence', sql: traceBatchAppendFencedByPerson },
];
