import { describe, expect, it } from 'vitest';
import { formatLogEntry } from './log-line';

describe('formatLogEntry', () => {
  it('prints one line with the attributes, and never the task token', () => {
    const line = formatLogEntry({
      level: 'WARN',
      message: 'monitor alert: drift in feature month',
      timestampNanos: 1_795_000_000_000_000_000n,
      meta: { taskToken: 'CiQwMWEy-secret', workflowId: 'monitor:flights-delay', attempt: 1, model: 'flights-delay' },
    });
    expect(line).toBe(
      '2026-11-18T11:06:40.000Z [WARN] monitor alert: drift in feature month ' +
        '{"workflowId":"monitor:flights-delay","attempt":1,"model":"flights-delay"}\n',
    );
    expect(line).not.toContain('CiQwMWEy');
  });

  it('prints no attribute block when there is none', () => {
    expect(formatLogEntry({ level: 'INFO', message: 'hello', timestampNanos: 0n })).toBe(
      '1970-01-01T00:00:00.000Z [INFO] hello\n',
    );
  });
});
