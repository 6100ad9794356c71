/**
 * Evaluation gates: pure checks of a candidate model's metrics (and a champion's) against bounds.
 *
 * Two kinds, keyed by name in a step's `gates:` block:
 *   `<metric>: { min?, max? }`                      an absolute bound on any metric the evaluation computed
 *   `vsChampion: { metric, maxDrop }`               the candidate may be at most `maxDrop` worse than the champion
 * "Worse" follows the metric's direction: lower for auc / accuracy / f1 / r2, higher for logLoss / rmse / mae / ece.
 */
import { z } from 'zod';

/** Name of the champion/challenger gate in a `gates:` block. */
export const VS_CHAMPION = 'vsChampion';

/** Metrics that are better when lower; every other metric is better when higher. */
export const LOWER_IS_BETTER: ReadonlySet<string> = new Set(['logLoss', 'rmse', 'mae', 'ece', 'brier', 'mse']);

/** True when a lower value of `metric` means a better model. */
export const lowerIsBetter = (metric: string): boolean => LOWER_IS_BETTER.has(metric);

export const BoundGateSchema = z
  .object({
    /** Fails when the metric is below this value. */
    min: z.number().optional(),
    /** Fails when the metric is above this value. */
    max: z.number().optional(),
  })
  .strict()
  .refine((g) => g.min !== undefined || g.max !== undefined, { message: 'a gate needs `min`, `max` or both' })
  .refine((g) => g.min === undefined || g.max === undefined || g.min <= g.max, { message: '`min` is above `max`' });
export type BoundGate = z.infer<typeof BoundGateSchema>;

export const ChampionGateSchema = z
  .object({
    /** The metric to compare, e.g. `auc` or `logLoss`. */
    metric: z.string().min(1),
    /** How much worse than the champion the candidate may be (in the metric's units). @default 0 */
    maxDrop: z.number().min(0).default(0),
  })
  .strict();
export type ChampionGate = z.infer<typeof ChampionGateSchema>;

/**
 * A `gates:` block: `vsChampion` is the champion gate, every other key names a metric. No transforms, so the
 * editor's JSON Schema can be generated from it.
 *
 * @example
 * GatesSchema.parse({ auc: { min: 0.6 }, logLoss: { max: 0.7 }, vsChampion: { metric: 'auc', maxDrop: 0.005 } });
 */
export const GatesSchema = z.object({ [VS_CHAMPION]: ChampionGateSchema.optional() }).catchall(BoundGateSchema);
export type GatesInput = z.input<typeof GatesSchema>;

/** A `gates:` block split by kind. */
export interface Gates {
  bounds: Record<string, BoundGate>;
  vsChampion: ChampionGate | null;
}

/** Splits a parsed `gates:` block into metric bounds and the champion gate. */
export function splitGates(config: z.output<typeof GatesSchema>): Gates {
  const bounds: Record<string, BoundGate> = {};
  for (const [name, gate] of Object.entries(config)) if (name !== VS_CHAMPION && gate) bounds[name] = gate as BoundGate;
  const vs = config[VS_CHAMPION] as ChampionGate | undefined;
  return { bounds, vsChampion: vs ?? null };
}

/** The outcome of one check. A `{ min, max }` gate gives one result per bound. */
export interface GateResult {
  /** The key in `gates:` (`auc`, `vsChampion`, ...). */
  gate: string;
  kind: 'min' | 'max' | 'vsChampion';
  metric: string;
  /** The candidate's value (null when it could not be computed, e.g. AUC on one class). */
  value: number | null;
  /** The value the candidate is held to. For vsChampion: champion ∓ maxDrop; null when there is no champion. */
  bound: number | null;
  /** The champion's value (vsChampion only). */
  champion?: number | null;
  maxDrop?: number;
  passed: boolean;
  /** Set when the gate did not apply (vsChampion without a champion); such a gate passes. */
  skipped?: boolean;
  /** One line for people, e.g. `gate auc: 0.581 < min 0.6`. */
  message: string;
}

/** Metrics a gate may read: numbers (NaN or null when undefined on the data). */
export type MetricValues = Readonly<Record<string, number | null | undefined>>;

/** Thrown when gates name metrics the evaluation does not compute: a definition error, not a model failure. */
export class UnknownGateMetricError extends Error {
  override readonly name = 'UnknownGateMetricError';
}

/**
 * Metric names that gates refer to but `available` lacks, as readable messages (empty when all are known).
 *
 * @example
 * checkGateMetrics(gates, ['auc', 'logLoss']); // ['gate rmse: no metric "rmse" (have: auc, logLoss)']
 */
export function checkGateMetrics(gates: Gates, available: readonly string[]): string[] {
  const have = new Set(available);
  const problems: string[] = [];
  const list = available.join(', ');
  for (const name of Object.keys(gates.bounds)) {
    if (!have.has(name)) problems.push(`gate ${name}: no metric "${name}" (have: ${list})`);
  }
  const vs = gates.vsChampion;
  if (vs && !have.has(vs.metric)) problems.push(`gate ${VS_CHAMPION}: no metric "${vs.metric}" (have: ${list})`);
  return problems;
}

export interface EvaluateGatesOptions {
  /**
   * Why the champion could not be scored on this data (e.g. it needs a column the data lacks). The vsChampion gate
   * then fails: a comparison that was asked for and could not be made is not a pass.
   */
  championError?: string;
}

/**
 * Checks every gate. `champion` is the champion's metrics on the same data, or null when there is none (the
 * vsChampion gate is then skipped and passes). A metric that is NaN or missing fails its gate.
 *
 * @example
 * const results = evaluateGates(parsed, { auc: 0.581 }, null);
 * results.filter((r) => !r.passed).map((r) => r.message); // ['gate auc: 0.581 < min 0.6']
 */
export function evaluateGates(
  gates: Gates,
  candidate: MetricValues,
  champion: MetricValues | null,
  options: EvaluateGatesOptions = {},
): GateResult[] {
  const results: GateResult[] = [];
  for (const [name, gate] of Object.entries(gates.bounds)) {
    const value = finite(candidate[name]);
    if (gate.min !== undefined) results.push(boundResult(name, 'min', value, gate.min));
    if (gate.max !== undefined) results.push(boundResult(name, 'max', value, gate.max));
  }
  if (gates.vsChampion) results.push(championResult(gates.vsChampion, candidate, champion, options.championError));
  return results;
}

/** Messages of the failed gates, in order. */
export const failedGateMessages = (results: readonly GateResult[]): string[] =>
  results.filter((r) => !r.passed).map((r) => r.message);

function boundResult(name: string, kind: 'min' | 'max', value: number | null, bound: number): GateResult {
  const base = { gate: name, kind, metric: name, value, bound };
  if (value === null) {
    return {
      ...base,
      passed: false,
      message: `gate ${name}: no value (undefined on this data), needs ${kind} ${bound}`,
    };
  }
  const passed = kind === 'min' ? value >= bound : value <= bound;
  const [v, b] = formatPair(value, bound);
  const op = kind === 'min' ? (passed ? '>=' : '<') : passed ? '<=' : '>';
  return { ...base, passed, message: `gate ${name}: ${v} ${op} ${kind} ${b}` };
}

function championResult(
  gate: ChampionGate,
  candidate: MetricValues,
  champion: MetricValues | null,
  championError: string | undefined,
): GateResult {
  const { metric, maxDrop } = gate;
  const value = finite(candidate[metric]);
  const base = { gate: VS_CHAMPION, kind: 'vsChampion' as const, metric, value, maxDrop };
  if (championError !== undefined) {
    return {
      ...base,
      bound: null,
      champion: null,
      passed: false,
      message: `gate ${VS_CHAMPION} ${metric}: the champion could not be scored on this data (${championError})`,
    };
  }
  if (!champion) {
    return {
      ...base,
      bound: null,
      champion: null,
      passed: true,
      skipped: true,
      message: `gate ${VS_CHAMPION} ${metric}: no champion, skipped`,
    };
  }
  const theirs = finite(champion[metric]);
  if (theirs === null) {
    return {
      ...base,
      bound: null,
      champion: null,
      passed: true,
      skipped: true,
      message: `gate ${VS_CHAMPION} ${metric}: the champion has no value, skipped`,
    };
  }
  const lower = lowerIsBetter(metric);
  const bound = lower ? theirs + maxDrop : theirs - maxDrop;
  if (value === null) {
    return {
      ...base,
      bound,
      champion: theirs,
      passed: false,
      message: `gate ${VS_CHAMPION} ${metric}: no value (undefined on this data), champion ${fmt(theirs)}`,
    };
  }
  const passed = lower ? value <= bound : value >= bound;
  const [v, c] = formatPair(value, theirs);
  const op = lower ? (passed ? '<=' : '>') : passed ? '>=' : '<';
  const sign = lower ? '+' : '-';
  return {
    ...base,
    bound,
    champion: theirs,
    passed,
    message: `gate ${VS_CHAMPION} ${metric}: ${v} ${op} champion ${c} ${sign} maxDrop ${fmt(maxDrop)}`,
  };
}

const finite = (x: number | null | undefined): number | null => (typeof x === 'number' && !Number.isNaN(x) ? x : null);

/** A number with 4 significant digits, trailing zeros dropped: 0.58137 → "0.5814". */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(4)));
}

/** Two numbers with enough digits that different values never print the same. */
function formatPair(a: number, b: number): [string, string] {
  for (let digits = 4; digits <= 17; digits++) {
    const fa = String(Number(a.toPrecision(digits)));
    const fb = String(Number(b.toPrecision(digits)));
    if (fa !== fb || a === b) return [fa, fb];
  }
  return [String(a), String(b)];
}
