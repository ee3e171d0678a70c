// HR webhooks seen, by webhook-id: a redelivery gets the first answer and changes nothing.
import type { SqlClient } from '../db/sql';

export class HrEventStore {
  constructor(private readonly db: SqlClient) {}

  /**
   * Claims the id; returns the stored answer when it was already processed. An id claimed but
   * never answered (the process stopped half-way) is processed again: every step is idempotent.
   */
  async claim(webhookId: string, type: string): Promise<{ response?: Record<string, unknown> }> {
    await this.db.query('insert into hr_webhook_events (webhook_id, type) values ($1, $2) on conflict do nothing', [webhookId, type]);
    const [row] = await this.db.query<{ response: Record<string, unknown> | null }>('select response from hr_webhook_events where webhook_id = $1', [webhookId]);
    return { response: row?.response ?? undefined };
  }

  async answer(webhookId: string, response: Record<string, unknown>): Promise<void> {
    await this.db.query('update hr_webhook_events set response = $2::jsonb, processed_at = now() where webhook_id = $1 and response is null', [
      webhookId,
      JSON.stringify(response),
    ]);
  }
}
