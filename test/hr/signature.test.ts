// Standard Webhooks' published reference vector (../shared/vectors/standard-webhooks.json),
// checked through our verifier. The vector is signed for a fixed moment, so "now" is the vector's
// own timestamp: the 5-minute tolerance is then tested around it.
import fs from 'node:fs';
import path from 'node:path';
import { HrSignatureError, HrSignatureVerifier } from '../../src/hr/hr-signature';

const vector = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../shared/vectors/standard-webhooks.json'), 'utf8')) as {
  secret: string;
  'webhook-id': string;
  'webhook-timestamp': string;
  payload: string;
  'webhook-signature': string;
  mustReject: string[];
  mustAccept: string[];
};
const signedAt = Number(vector['webhook-timestamp']) * 1000;
const headers = (signature: string) => ({ 'webhook-id': vector['webhook-id'], 'webhook-timestamp': vector['webhook-timestamp'], 'webhook-signature': signature });
const at = (ms: number) => jest.spyOn(Date, 'now').mockReturnValue(ms);

afterEach(() => jest.restoreAllMocks());

describe('HR webhook signatures (Standard Webhooks)', () => {
  const verifier = new HrSignatureVerifier([vector.secret]);

  it('accepts the published signature and returns the payload', () => {
    at(signedAt);
    expect(verifier.verify(vector.payload, headers(vector['webhook-signature']))).toEqual(JSON.parse(vector.payload));
  });

  it('accepts a header with several signatures when one v1 signature matches', () => {
    at(signedAt);
    for (const signature of vector.mustAccept) expect(verifier.verify(vector.payload, headers(signature))).toEqual(JSON.parse(vector.payload));
  });

  it('rejects the published bad signatures', () => {
    at(signedAt);
    const bad = vector.mustReject.filter((s) => s.startsWith('v1,'));
    expect(bad).toHaveLength(2);
    for (const signature of bad) expect(() => verifier.verify(vector.payload, headers(signature))).toThrow(HrSignatureError);
  });

  it('rejects a correct signature 301 s from now either way, and accepts it at 300 s', () => {
    for (const offset of [-301, 301]) {
      at(signedAt + offset * 1000);
      expect(() => verifier.verify(vector.payload, headers(vector['webhook-signature']))).toThrow(HrSignatureError);
    }
    for (const offset of [-300, 300]) {
      at(signedAt + offset * 1000);
      expect(verifier.verify(vector.payload, headers(vector['webhook-signature']))).toEqual(JSON.parse(vector.payload));
    }
  });

  it('rejects a changed body, id or timestamp, and missing headers', () => {
    at(signedAt);
    expect(() => verifier.verify(vector.payload.replace('2432232314', '2432232315'), headers(vector['webhook-signature']))).toThrow(HrSignatureError);
    expect(() => verifier.verify(vector.payload, { ...headers(vector['webhook-signature']), 'webhook-id': 'msg_other' })).toThrow(HrSignatureError);
    expect(() => verifier.verify(vector.payload, { ...headers(vector['webhook-signature']), 'webhook-timestamp': String(Number(vector['webhook-timestamp']) + 1) })).toThrow(
      HrSignatureError,
    );
    expect(() => verifier.verify(vector.payload, { 'webhook-id': vector['webhook-id'] })).toThrow(HrSignatureError);
  });

  it('accepts any of the active secrets during a rotation, and none when none is configured', () => {
    at(signedAt);
    const rotating = new HrSignatureVerifier(['whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM=', vector.secret]);
    expect(rotating.verify(vector.payload, headers(vector['webhook-signature']))).toEqual(JSON.parse(vector.payload));
    expect(() => new HrSignatureVerifier(['whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM=']).verify(vector.payload, headers(vector['webhook-signature']))).toThrow(HrSignatureError);
    expect(() => new HrSignatureVerifier([]).verify(vector.payload, headers(vector['webhook-signature']))).toThrow(/not configured/);
  });
});
