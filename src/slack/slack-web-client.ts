// The Slack Web API client of this process, and what its failures mean for a retry.
// It never retries or waits by itself: the caller (a Temporal activity) owns retries and delays.
import { webApi } from '@slack/bolt';
import type { Config } from '../config/config';

export type SlackWebApi = webApi.WebClient;

/** Slack platform errors that say "try again later" rather than "this cannot work". */
const TRANSIENT_PLATFORM_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'team_added_to_org']);

export function slackWebClientOptions(slack: Config['slack']): webApi.WebClientOptions {
  return {
    ...(slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
    logLevel: webApi.LogLevel.ERROR,
  };
}

/** The bot's Web API client, or undefined when Slack is not configured (no SLACK_BOT_TOKEN). */
export function slackWebClient(slack: Config['slack']): SlackWebApi | undefined {
  return slack.botToken ? new webApi.WebClient(slack.botToken, slackWebClientOptions(slack)) : undefined;
}

export type SlackFailure =
  | { kind: 'rate_limited'; retryAfterSeconds: number; message: string }
  | { kind: 'transient'; message: string }
  | { kind: 'rejected'; error: string; message: string };

/** 429 → wait Retry-After; 5xx, network and Slack-side faults → retry; other platform errors → give up. */
export function classifySlackFailure(err: unknown): SlackFailure {
  if (err instanceof webApi.WebAPIRateLimitedError) return { kind: 'rate_limited', retryAfterSeconds: err.retryAfter, message: err.message };
  if (err instanceof webApi.WebAPIPlatformError) {
    const error = err.data.error;
    return TRANSIENT_PLATFORM_ERRORS.has(error) ? { kind: 'transient', message: err.message } : { kind: 'rejected', error, message: err.message };
  }
  if (err instanceof webApi.WebAPIHTTPError && err.statusCode < 500 && err.statusCode !== 408) {
    return { kind: 'rejected', error: `http_${err.statusCode}`, message: err.message };
  }
  return { kind: 'transient', message: err instanceof Error ? err.message : String(err) };
}
