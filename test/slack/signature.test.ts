// Slack's v0 request signing, checked against Slack's own documented example.
import fs from 'node:fs';
import path from 'node:path';
import { isValidSlackRequest } from '@slack/bolt';
import { SignedRequestReceiver } from '../../src/slack/slack-receiver';

const vector = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../shared/vectors/slack-signature.json'), 'utf8')) as {
  signingSecret: string;
  timestamp: string;
  rawBody: string;
  signature: string;
};

const silent = { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => 'info' as never, setName() {} };
const receiver = (nowSeconds: number) => new SignedRequestReceiver({ signingSecret: vector.signingSecret, logger: silent, now: () => nowSeconds * 1000 });
const request = (over: { body?: string; signature?: string; timestamp?: string } = {}) => ({
  rawBody: over.body ?? vector.rawBody,
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-signature': over.signature ?? vector.signature,
    'x-slack-request-timestamp': over.timestamp ?? vector.timestamp,
  },
});
const ts = Number(vector.timestamp);

describe("Slack's documented signing example", () => {
  it('verifies with Bolt’s own verifier', () => {
    const ok = isValidSlackRequest({
      signingSecret: vector.signingSecret,
      body: vector.rawBody,
      headers: { 'x-slack-signature': vector.signature, 'x-slack-request-timestamp': ts },
      nowMilliseconds: ts * 1000,
    });
    expect(ok).toBe(true);
  });

  it('is accepted by our receiver within the 5-minute window', () => {
    expect(receiver(ts).verify(request())).toBe(true);
    expect(receiver(ts + 299).verify(request())).toBe(true);
  });

  it('is refused when stale, altered, signed with another secret or unsigned', () => {
    expect(receiver(ts + 301).verify(request())).toBe(false);
    expect(receiver(ts).verify(request({ body: vector.rawBody.replace('roadrunner', 'coyote') }))).toBe(false);
    expect(receiver(ts).verify(request({ signature: vector.signature.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }))).toBe(false);
    expect(receiver(ts).verify(request({ signature: vector.signature.replace('v0=', 'v1=') }))).toBe(false);
    expect(receiver(ts).verify(request({ timestamp: String(ts + 1) }))).toBe(false);
    expect(receiver(ts).verify({ rawBody: vector.rawBody, headers: {} })).toBe(false);
  });

  it('answers 401 with an empty body on a bad signature', async () => {
    await expect(receiver(ts).handle(request({ body: `${vector.rawBody}&x=1` }))).resolves.toEqual({ status: 401, headers: {}, body: '' });
  });
});
