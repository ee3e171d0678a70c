// Block Kit cards for held calls, built by pure functions: what an approver needs to decide
// (who, which agent and task, tool and action class, app risk and data, arguments, why), the
// person's confirmation card, and the decided card that replaces both.
import { REDACTED, redactArguments } from '../policy/redact';
import type { types } from '@slack/bolt';
import type { ActionClass, App, Tool } from '../policy/bundle';

type KnownBlock = types.KnownBlock;

export const APPROVAL_ACTIONS = ['approve_once', 'approve_task', 'deny'] as const;
export const CONFIRMATION_ACTIONS = ['confirm', 'decline'] as const;
export type CardAction = (typeof APPROVAL_ACTIONS)[number] | (typeof CONFIRMATION_ACTIONS)[number];

/** The deny comment: an optional text input on the approval card, read from the click's state. */
export const COMMENT_BLOCK = 'comment';
export const COMMENT_ACTION = 'comment';

const MAX_ARG_LINES = 12;
const MAX_ARG_CHARS = 160;

export interface CardPerson {
  id: string;
  name: string;
  title?: string;
  department?: string;
}

/** What a card shows about the held call; everything comes from the task, the directory and the bundle. */
export interface HeldCallFacts {
  approvalId: string;
  digest: string;
  delegator: CardPerson;
  agent: { id: string; name?: string };
  purpose?: string;
  tool: Pick<Tool, 'id' | 'description' | 'arguments'> & { action?: ActionClass | string };
  app?: Pick<App, 'id' | 'name' | 'riskLevel' | 'dataClassification'>;
  args?: Record<string, unknown>;
}

export interface ApprovalCardInput extends HeldCallFacts {
  /** Enforcing rules that escalated, and the reason they give. */
  rules: string[];
  reason?: string;
  /** The delegator lacks the app's access: approving provisions it just in time. */
  provisions?: boolean;
  step: number;
  deadline: string;
  /** The clock the card is built at (for "in 15 minutes"); passed in so the function stays pure. */
  now: string;
}

export interface DecidedCardInput {
  kind: 'approval' | 'confirmation';
  delegator: CardPerson;
  agent: { id: string; name?: string };
  tool: { id: string };
  app?: { id: string; name: string };
  outcome: string;
  by?: CardPerson;
  at: string;
  comment?: string;
}

export interface Card {
  text: string;
  blocks: KnownBlock[];
}

/** The value every button carries: which approval, and the call digest the card was built from. */
export interface ButtonValue {
  approvalId: string;
  digest: string;
}

export function buttonValue(v: ButtonValue): string {
  return JSON.stringify({ a: v.approvalId, d: v.digest });
}

export function parseButtonValue(raw: string | undefined): ButtonValue | undefined {
  try {
    const v = JSON.parse(raw ?? '') as { a?: unknown; d?: unknown };
    return typeof v.a === 'string' && typeof v.d === 'string' && v.a && v.d ? { approvalId: v.a, digest: v.d } : undefined;
  } catch {
    return undefined;
  }
}

/** Slack mrkdwn: &, < and > are control characters in user text. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const personLine = (p: CardPerson) => {
  const role = [p.title, p.department].filter(Boolean).join(', ');
  return escapeMrkdwn(role ? `${p.name} (${role})` : p.name);
};
const agentName = (a: { id: string; name?: string }) => escapeMrkdwn(a.name ? `${a.name} (${a.id})` : a.id);
const appName = (app: { id: string; name: string } | undefined, fallback: string) => escapeMrkdwn(app ? `${app.name} (${app.id})` : fallback);

/** Slack renders `<!date^…>` in each reader's own time zone; the fallback is ISO-8601. */
export function slackDate(iso: string): string {
  return `<!date^${Math.floor(Date.parse(iso) / 1000)}^{date_short_pretty} at {time}|${iso}>`;
}

/** "14 minutes", "2 hours", "3 days": how long is left, rounded down, never negative. */
export function timeLeft(now: string, deadline: string): string {
  const s = Math.max(0, Math.floor((Date.parse(deadline) - Date.parse(now)) / 1000));
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (s < 120) return unit(s, 'second');
  if (s < 2 * 3600) return unit(Math.floor(s / 60), 'minute');
  if (s < 2 * 86400) return unit(Math.floor(s / 3600), 'hour');
  return unit(Math.floor(s / 86400), 'day');
}

type Schema = { properties?: Record<string, Schema>; items?: Schema; 'x-sensitive'?: unknown };

/** One line per argument, redacted and shortened, for a code block. */
export function argumentPreview(args: Record<string, unknown> | undefined, schema: Record<string, unknown>): string {
  const redacted = redactArguments(args ?? {}, schema as Schema) as Record<string, unknown>;
  const entries = Object.entries(redacted);
  if (!entries.length) return '(no arguments)';
  const clip = (s: string) => (s.length > MAX_ARG_CHARS ? `${s.slice(0, MAX_ARG_CHARS - 1)}…` : s);
  const lines = entries.slice(0, MAX_ARG_LINES).map(([k, v]) => clip(`${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`));
  if (entries.length > MAX_ARG_LINES) lines.push(`… ${entries.length - MAX_ARG_LINES} more`);
  // A ``` inside a value would close the code block.
  return escapeMrkdwn(lines.join('\n')).replace(/```/g, '`\u200b`\u200b`');
}

function facts(f: HeldCallFacts): KnownBlock {
  const action = f.tool.action ? ` · ${f.tool.action}` : '';
  const fields = [
    `*Delegated by*\n${personLine(f.delegator)}`,
    `*Agent*\n${agentName(f.agent)}`,
    `*Task purpose*\n${f.purpose ? escapeMrkdwn(f.purpose) : '_not given_'}`,
    `*Tool*\n\`${escapeMrkdwn(f.tool.id)}\`${action}`,
    `*App*\n${appName(f.app, 'unknown app')}`,
    `*Risk · data*\n${f.app ? `${f.app.riskLevel} risk · ${escapeMrkdwn(f.app.dataClassification)} data` : 'unknown'}`,
  ];
  return { type: 'section', fields: fields.map((text) => ({ type: 'mrkdwn', text })) };
}

function argumentsBlock(f: HeldCallFacts): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: `*Arguments*\n\`\`\`${argumentPreview(f.args, f.tool.arguments)}\`\`\`` } };
}

function button(actionId: CardAction, label: string, value: string, style?: 'primary' | 'danger') {
  return { type: 'button' as const, action_id: actionId, text: { type: 'plain_text' as const, text: label }, value, ...(style ? { style } : {}) };
}

function why(input: ApprovalCardInput): string {
  const parts: string[] = [];
  if (input.rules.length) parts.push(`Rule ${input.rules.map((r) => `\`${escapeMrkdwn(r)}\``).join(', ')}${input.reason ? `: ${escapeMrkdwn(input.reason)}` : ''}`);
  else if (input.reason) parts.push(escapeMrkdwn(input.reason));
  if (input.provisions) {
    parts.push(`${escapeMrkdwn(input.delegator.name)} has no access to ${appName(input.app, input.tool.id)}: approving provisions it just in time, for this task only.`);
  }
  return parts.join('\n') || 'The policy asks for a human decision on this call.';
}

/** The card an approver gets: everything needed to decide, and Approve once / Approve for this task / Deny. */
export function approvalCard(input: ApprovalCardInput): Card {
  const value = buttonValue(input);
  const app = input.app ? input.app.name : input.tool.id;
  const title = `Approval needed: ${input.agent.name ?? input.agent.id} wants ${input.tool.id}`;
  return {
    text: `Approval needed: ${input.agent.name ?? input.agent.id} for ${input.delegator.name} wants ${input.tool.id} on ${app}. Answer within ${timeLeft(input.now, input.deadline)}.`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clipPlain(title, 150) } },
      facts(input),
      { type: 'section', text: { type: 'mrkdwn', text: `*Why this needs you*\n${why(input)}` } },
      argumentsBlock(input),
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `Answer by ${slackDate(input.deadline)} (${timeLeft(input.now, input.deadline)} left) · step ${input.step + 1} · approval \`${input.approvalId}\``,
          },
        ],
      },
      {
        type: 'input',
        block_id: COMMENT_BLOCK,
        optional: true,
        label: { type: 'plain_text', text: 'Comment (sent with Deny)' },
        element: { type: 'plain_text_input', action_id: COMMENT_ACTION, max_length: 500 },
      },
      {
        type: 'actions',
        block_id: `approval:${input.approvalId}`,
        elements: [
          button('approve_once', 'Approve once', value, 'primary'),
          button('approve_task', 'Approve for this task', value),
          button('deny', 'Deny', value, 'danger'),
        ],
      },
    ],
  };
}

/** The card the delegating person gets when their agent wants a tool they hold themselves. */
export function confirmationCard(input: HeldCallFacts): Card {
  const value = buttonValue(input);
  const agent = input.agent.name ?? input.agent.id;
  const app = input.app ? input.app.name : input.tool.id;
  return {
    text: `${agent} wants to use ${input.tool.id} on ${app} with your access. Confirm or decline.`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clipPlain(`Confirm: ${agent} wants ${input.tool.id}`, 150) } },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `Your agent ${agentName(input.agent)} asks to use a tool of yours on ${appName(input.app, 'an app')}. It gets it for this task only.` },
      },
      facts(input),
      argumentsBlock(input),
      {
        type: 'actions',
        block_id: `confirmation:${input.approvalId}`,
        elements: [button('confirm', 'Confirm', value, 'primary'), button('decline', 'Decline', value, 'danger')],
      },
    ],
  };
}

const OUTCOMES: Record<string, string> = {
  approve_once: '✅ Approved once',
  approve_task: '✅ Approved for this task',
  approved: '✅ Approved',
  confirm: '✅ Confirmed',
  deny: '⛔ Denied',
  denied: '⛔ Denied',
  decline: '⛔ Declined',
  timed_out: '⌛ Timed out: nobody answered in time',
  cancelled: '🚫 Cancelled: the task ended',
  moved_on: '↪ Moved on to the next approver',
};

export function outcomeText(outcome: string): string {
  return OUTCOMES[outcome] ?? outcome;
}

/** The card that replaces every card of a held call once it is decided, timed out or cancelled. */
export function decidedCard(input: DecidedCardInput): Card {
  const agent = agentName(input.agent);
  const line = `${outcomeText(input.outcome)}${input.by ? ` by ${personLine(input.by)}` : ''} ${slackDate(input.at)}`;
  const what = `${agent} for ${personLine(input.delegator)}: \`${escapeMrkdwn(input.tool.id)}\` on ${appName(input.app, 'unknown app')}`;
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*${input.kind === 'confirmation' ? 'Confirmation' : 'Approval'}* · ${what}` } },
    { type: 'section', text: { type: 'mrkdwn', text: `*${line}*` } },
  ];
  if (input.comment) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Comment: ${escapeMrkdwn(input.comment)}` }] });
  const plainBy = input.by ? ` by ${input.by.name}` : '';
  return { text: `${outcomeText(input.outcome)}${plainBy}: ${input.tool.id} for ${input.delegator.name} (${input.at})`, blocks };
}

function clipPlain(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export { REDACTED, redactArguments };
