// One real Temporal dev server (in memory) for the whole test run, unless TEMPORAL_ADDRESS is set.
import { startDevServer } from '../../src/temporal/dev-server';

export default async function globalSetup(): Promise<void> {
  if (process.env.TEMPORAL_ADDRESS) return;
  const server = await startDevServer({ namespace: 'default', log: (line) => process.stderr.write(`${line}\n`) });
  process.env.TEMPORAL_ADDRESS = server.address;
  (globalThis as { __temporalDevServer__?: typeof server }).__temporalDevServer__ = server;
}
