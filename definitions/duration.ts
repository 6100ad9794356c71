const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/y;

/** What a duration string looks like, for editors (JSON Schema `pattern`). */
export const DURATION_PATTERN = '^\\s*(\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)\\s*)+$';

/** A duration: a string such as `500ms`, `2s`, `30m`, `1h30m`, `1d`, or a number of milliseconds. */
export type DurationValue = string | number;

/**
 * Milliseconds in a duration. Units: `ms`, `s`, `m`, `h`, `d`; parts add up (`1h30m`) and may be decimal (`1.5h`).
 * A number is taken as milliseconds.
 *
 * @throws Error naming the bad input and what was expected.
 * @example
 * parseDuration('1h30m'); // 5_400_000
 * parseDuration(250); // 250
 */
export function parseDuration(value: DurationValue): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`invalid duration ${value}: a number of milliseconds must be finite and not negative`);
    }
    return value;
  }
  if (typeof value !== 'string') {
    throw new Error(`invalid duration: expected a string like "30s" or a number of milliseconds, got ${typeof value}`);
  }
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    throw new Error(`invalid duration "${value}": add a unit (ms, s, m, h or d), e.g. "${text}s"`);
  }
  let total = 0;
  let at = 0;
  const seen = new Set<string>();
  while (at < text.length) {
    PART.lastIndex = at;
    const m = PART.exec(text);
    if (!m) {
      throw new Error(
        `invalid duration "${value}": expected a number and a unit (ms, s, m, h, d) such as "500ms", "2s" or "1h30m"`,
      );
    }
    if (seen.has(m[2])) throw new Error(`invalid duration "${value}": unit "${m[2]}" appears twice`);
    seen.add(m[2]);
    total += Number(m[1]) * UNITS[m[2]];
    at = PART.lastIndex;
    while (text[at] === ' ') at++;
  }
  if (at === 0) throw new Error(`invalid duration "${value}": empty`);
  return Math.round(total);
}

/** Whether {@link parseDuration} accepts the value. */
export function isDuration(value: unknown): value is DurationValue {
  try {
    parseDuration(value as DurationValue);
    return true;
  } catch {
    return false;
  }
}

/** A short human form: 90_000 → `1m30s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['d', UNITS.d],
    ['h', UNITS.h],
    ['m', UNITS.m],
    ['s', UNITS.s],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
