import type { LogEntry } from '@temporalio/worker';

/** Attributes the SDK attaches to activity log entries that must not reach a log: a task token completes the task. */
const WITHHELD = new Set(['taskToken']);

/**
 * One line per SDK log entry (time, level, message, attributes as JSON), without the activity's task token, which the
 * SDK's default format prints over many lines.
 *
 * @example
 * Runtime.install({ logger: new DefaultLogger('WARN', (entry) => process.stderr.write(formatLogEntry(entry))) });
 */
export function formatLogEntry(entry: LogEntry): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = Object.fromEntries(Object.entries(entry.meta ?? {}).filter(([key]) => !WITHHELD.has(key)));
  const attributes = Object.keys(meta).length
    ? ` ${JSON.stringify(meta, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`
    : '';
  return `${time} [${entry.level}] ${entry.message}${attributes}\n`;
}
