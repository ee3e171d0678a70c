// Heartbeats and cancellation of the running Temporal activity, and no-ops when a connector is
// called directly (unit tests, the bench), where `Context.current()` throws.
import { Context } from '@temporalio/activity';

function current(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function heartbeat(details?: unknown): void {
  current()?.heartbeat(details);
}

/** Aborts when the activity is cancelled (including a heartbeat or start-to-close timeout seen by the worker). */
export function cancellationSignal(): AbortSignal | undefined {
  return current()?.cancellationSignal;
}
