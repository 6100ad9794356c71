import { describe, expect, it } from 'vitest';
import { formatDuration, isDuration, parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['2s', 2000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['1h 30m', 5_400_000],
    ['1d', 86_400_000],
    ['1.5s', 1500],
    [' 10s ', 10_000],
    [250, 250],
    [0, 0],
  ])('%j is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it('says what is wrong', () => {
    expect(() => parseDuration('30x')).toThrow(
      'invalid duration "30x": expected a number and a unit (ms, s, m, h, d) such as "500ms", "2s" or "1h30m"',
    );
    expect(() => parseDuration('30')).toThrow('invalid duration "30": add a unit (ms, s, m, h or d), e.g. "30s"');
    expect(() => parseDuration('')).toThrow('invalid duration "": empty');
    expect(() => parseDuration('1m1m')).toThrow('invalid duration "1m1m": unit "m" appears twice');
    expect(() => parseDuration(-5)).toThrow(
      'invalid duration -5: a number of milliseconds must be finite and not negative',
    );
    expect(() => parseDuration(true as unknown as string)).toThrow('got boolean');
  });

  it('isDuration and formatDuration', () => {
    expect(isDuration('1h')).toBe(true);
    expect(isDuration('soon')).toBe(false);
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(86_400_500)).toBe('1d500ms');
  });
});
