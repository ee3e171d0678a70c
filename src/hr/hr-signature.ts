// Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature) over the raw
// body, checked with the `standardwebhooks` library: HMAC-SHA256, 5-minute tolerance both ways,
// any v1 signature of the header matching passes. Several secrets are active during a rotation.
import { Webhook } from 'standardwebhooks';

export class HrSignatureError extends Error {}

export type Headers = Record<string, string | string[] | undefined>;

export class HrSignatureVerifier {
  private readonly webhooks: Webhook[];

  /** `secrets`: `whsec_<base64>`, newest first (HR_WEBHOOK_SECRET, comma-separated). */
  constructor(secrets: string[]) {
    this.webhooks = secrets.map((s) => new Webhook(s));
  }

  /** The event (the body parsed as JSON) if one of the secrets signed it within the tolerance; else throws HrSignatureError. */
  verify(rawBody: string, headers: Headers): unknown {
    if (!this.webhooks.length) throw new HrSignatureError('HR webhooks are not configured (HR_WEBHOOK_SECRET).');
    const h = {
      'webhook-id': one(headers['webhook-id']),
      'webhook-timestamp': one(headers['webhook-timestamp']),
      'webhook-signature': one(headers['webhook-signature']),
    };
    let why = 'No matching signature found';
    for (const webhook of this.webhooks) {
      try {
        return webhook.verify(rawBody, h);
      } catch (err) {
        if (err instanceof SyntaxError) throw err; // signed, but not JSON
        why = err instanceof Error ? err.message : String(err);
      }
    }
    throw new HrSignatureError(why);
  }
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) ?? '';
