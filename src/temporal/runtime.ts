// The Temporal worker runtime's logger, at the level LOG_LEVEL asks for (its default, INFO, prints
// the workflow bundler's output and every worker state change). Once per process, before any worker.
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

const LEVELS: Record<string, LogLevel | undefined> = { trace: 'TRACE', debug: 'DEBUG', info: 'WARN', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' };

export function installTemporalRuntime(logLevel: string): void {
  Runtime.install({ logger: new DefaultLogger(LEVELS[logLevel] ?? 'WARN') });
}
