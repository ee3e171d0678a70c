// Which Slack surface the configuration gives: none, HTTP (signed requests) or Socket Mode.
import { createSlackSurface, type SlackServices } from '../../src/slack/slack-app';
import { policy } from './fixtures';

const answers = { submit: async () => ({ accepted: true as const }) };
const KEY = 'approval-signing-key-for-tests-0123456789';
const services = (slack: SlackServices['config']['slack']): SlackServices =>
  ({
    config: { slack, approvalSigningKey: KEY, logLevel: 'silent' },
    db: {} as SlackServices['db'],
    directory: {} as SlackServices['directory'],
    approvals: {} as SlackServices['approvals'],
    tasks: { get: async () => undefined },
    policy,
  }) as SlackServices;

describe('Slack surface', () => {
  it('is absent when Slack is not configured', () => {
    expect(createSlackSurface(services({}), answers)).toBeUndefined();
    expect(createSlackSurface(services({ botToken: 'xoxb-1' }), answers)).toBeUndefined();
    expect(createSlackSurface(services({ signingSecret: 's' }), answers)).toBeUndefined();
  });

  it('verifies signed HTTP requests when a signing secret is set', () => {
    const surface = createSlackSurface(services({ botToken: 'xoxb-1', signingSecret: 's' }), answers)!;
    expect(surface.receiver).toBeDefined();
  });

  it('uses Socket Mode when SLACK_APP_TOKEN is set (constructed, not connected)', async () => {
    const surface = createSlackSurface(services({ botToken: 'xoxb-1', appToken: 'xapp-1' }), answers)!;
    expect(surface.receiver).toBeUndefined();
    await expect(surface.handleHttp({ rawBody: '', headers: {} })).resolves.toMatchObject({ status: 404 });
  });

  it('refuses to start without APPROVAL_SIGNING_KEY: every approval is signed', () => {
    expect(() => createSlackSurface({ ...services({ botToken: 'xoxb-1', signingSecret: 's' }), config: { slack: { botToken: 'xoxb-1', signingSecret: 's' }, logLevel: 'silent' } }, answers)).toThrow(/^APPROVAL_SIGNING_KEY=/);
  });
});
