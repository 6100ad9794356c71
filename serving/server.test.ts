import { describe, expect, it } from 'vitest';
import type { LoadedVersion, Scores } from './model-host';
import { v1Body } from './server';

/** What v1Body writes by hand: the answer object through JSON.stringify. */
function expected(lv: Pick<LoadedVersion, 'model' | 'version' | 'classes'>, scores: Scores, n: number, id: string) {
  const predictions = Array.from({ length: n }, (_, r) => {
    if (scores.kind === 'regression') return { value: scores.values[r] };
    const C = scores.numClasses;
    const k = Number(scores.labels[r]);
    return {
      label: lv.classes ? lv.classes[k] : k,
      probability: C === 2 ? scores.probabilities[r * 2 + 1] : scores.probabilities[r * C + k],
      probabilities: Array.from(scores.probabilities.subarray(r * C, r * C + C)),
    };
  });
  return JSON.stringify({ predictions, model: lv.model, version: lv.version, id });
}

const version = (classes: string[] | null) =>
  ({ model: 'flights "delay"', version: 7, classes }) as unknown as LoadedVersion;

describe('v1Body', () => {
  it.each([
    [
      'binary with class names',
      version(['on time', 'delayed']),
      {
        kind: 'classification',
        numClasses: 2,
        labels: BigInt64Array.of(1n, 0n),
        probabilities: Float32Array.of(0.25, 0.75, 0.9, 0.1),
      },
    ],
    [
      'multiclass with class indices, NaN as null',
      version(null),
      {
        kind: 'classification',
        numClasses: 3,
        labels: BigInt64Array.of(2n),
        probabilities: Float32Array.of(0.2, NaN, 0.6),
      },
    ],
    ['regression', version(null), { kind: 'regression', values: Float32Array.of(1e21, -0, 3.5) }],
  ] as [string, LoadedVersion, Scores][])('%s: the same text as JSON.stringify of the answer', (_, lv, scores) => {
    const n = scores.kind === 'regression' ? scores.values.length : scores.labels.length;
    const body = v1Body(lv, scores, n, 'req-1');
    expect(body).toBe(expected(lv, scores, n, 'req-1'));
    expect(JSON.parse(body)).toMatchObject({ model: 'flights "delay"', version: 7, id: 'req-1' });
  });
});
