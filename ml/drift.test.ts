import { describe, expect, it } from 'vitest';
import { readSource } from '../activities/data/readers';
import { FileArtifactStore } from '../storage/artifact-store';
import {
  binSorted,
  categoricalDrift,
  chiSquareHomogeneity,
  chiSquareSf,
  driftTable,
  kolmogorovSf,
  ksTwoSample,
  psi,
  PSI_EPSILON,
  scoreDrift,
  sortedPresent,
  type DriftRow,
} from './drift';
import fixture from './fixtures/ks-scipy.json';
import { histogramCounts, profileTable } from './profile';
import { createRng } from './random';
import { getColumn, takeRows, type Table } from './table';

describe('psi', () => {
  it('matches hand-computed values', () => {
    expect(psi([50, 50], [50, 50])).toBe(0);
    // 0.25·ln(0.5) − 0.25·ln(0.5/0.75)… written out: (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5)
    expect(psi([50, 50], [25, 75])).toBeCloseTo(0.25 * Math.log(2) + 0.25 * Math.log(1.5), 12);
    // Counts are normalised: only the shares matter.
    expect(psi([1, 1], [100, 300])).toBeCloseTo(psi([50, 50], [25, 75]), 12);
    // An empty bin is floored at PSI_EPSILON instead of making the index infinite.
    expect(psi([90, 10], [100, 0])).toBeCloseTo(
      (1 - 0.9) * Math.log(1 / 0.9) + (PSI_EPSILON - 0.1) * Math.log(PSI_EPSILON / 0.1),
      12,
    );
    expect(psi([0, 0], [1, 2])).toBeNaN();
    expect(() => psi([1], [1, 2])).toThrow(/1 expected bins but 2 actual/);
  });

  it('bins sorted values like the profile histogram does', () => {
    const edges = [0, 10, 20, 30];
    const values = [-5, 0, 9.99, 10, 15, 20, 30, 31, NaN];
    expect(Array.from(binSorted(sortedPresent(values), edges))).toEqual(histogramCounts(values, edges));
  });

  it('bins categories into the top categories plus other, and ignores missing', () => {
    const reference = {
      distinct: 4,
      top: [
        { value: 'ORD', count: 60 },
        { value: 'SFO', count: 30 },
      ],
      otherCount: 10,
    };
    const d = categoricalDrift(reference, ['ORD', 'ORD', 'SFO', 'XYZ', null]);
    expect(d.rows).toBe(4);
    expect(d.psi).toBeCloseTo(psi([60, 30, 10], [2, 1, 1]), 12);
  });

  it('measures prediction drift over reference deciles', () => {
    const rng = createRng(1);
    const reference = Array.from({ length: 10_000 }, () => rng.next());
    expect(
      scoreDrift(
        reference,
        Array.from({ length: 5000 }, () => rng.next()),
      ),
    ).toBeLessThan(0.01);
    // Scores pushed up: most live rows land in the top deciles.
    expect(
      scoreDrift(
        reference,
        Array.from({ length: 5000 }, () => Math.sqrt(rng.next())),
      ),
    ).toBeGreaterThan(0.2);
  });
});

describe('ksTwoSample against scipy.stats.ks_2samp (ml/fixtures/ks-scipy.json)', () => {
  it('has the fixture scipy made', () => {
    expect(fixture.ks.length).toBeGreaterThanOrEqual(8);
    expect(fixture.ks.some((c) => c.name.startsWith('ties'))).toBe(true);
  });

  for (const c of fixture.ks) {
    it(`${c.name}: ${c.a.length} vs ${c.b.length} values`, () => {
      const result = ksTwoSample(sortedPresent(c.a), sortedPresent(c.b));
      expect(Math.abs(result.statistic - c.statistic)).toBeLessThanOrEqual(1e-9);
      // The p-value is the Kolmogorov limiting distribution (kstwobign), as documented.
      expect(Math.abs(result.pValue - c.pValueKolmogorov)).toBeLessThanOrEqual(1e-9);
      // Symmetric in its arguments.
      expect(ksTwoSample(sortedPresent(c.b), sortedPresent(c.a)).statistic).toBe(result.statistic);
    });
  }

  it('computes the Kolmogorov survival function like scipy.stats.kstwobign.sf', () => {
    for (const { x, sf } of fixture.kolmogorovSf) expect(Math.abs(kolmogorovSf(x) - sf)).toBeLessThanOrEqual(1e-12);
  });
});

describe('chi-square', () => {
  it('matches scipy.stats.chi2_contingency(correction=False)', () => {
    for (const t of fixture.chi2) {
      const r = chiSquareHomogeneity(t.table[0], t.table[1]);
      expect(r.df).toBe(t.df);
      expect(r.statistic).toBeCloseTo(t.statistic, 9);
      expect(Math.abs(r.pValue - t.pValue)).toBeLessThanOrEqual(1e-12 + 1e-9 * t.pValue);
    }
  });

  it('matches scipy.stats.chi2.sf and the textbook 5% point', () => {
    for (const { x, df, sf } of fixture.chi2Sf) expect(chiSquareSf(x, df)).toBeCloseTo(sf, 12);
    expect(chiSquareSf(3.841458820694124, 1)).toBeCloseTo(0.05, 12);
  });
});

async function flightsMonth(from: string, to: string): Promise<Table> {
  const read = await readSource('npm://vega-datasets/data/flights-3m.parquet', new FileArtifactStore('/tmp'), {
    columns: { date: 'timestamp', delay: 'number', distance: 'number', origin: 'category' },
    filters: [{ column: 'date', from, to }],
  });
  const date = getColumn(read.table, 'date');
  if (date.kind !== 'numeric') throw new Error('date is not numeric');
  const hour = Float64Array.from(date.values, (t) => new Date(t).getUTCHours());
  return { ...read.table, columns: [...read.table.columns, { kind: 'numeric', name: 'hour', values: hour }] };
}

/** Live columns from `rows` random rows of `table` (seeded), optionally only those `keep` accepts. */
function liveColumns(table: Table, rows: number, seed: number, keep: (origin: string) => boolean = () => true) {
  const origin = getColumn(table, 'origin');
  if (origin.kind !== 'categorical') throw new Error('origin is not categorical');
  const eligible: number[] = [];
  for (let i = 0; i < table.numRows; i++) if (keep(origin.dictionary[origin.codes[i]])) eligible.push(i);
  const rng = createRng(seed);
  const picked = takeRows(
    table,
    Array.from({ length: rows }, () => eligible[rng.nextInt(eligible.length)]),
  );
  const numbers = (name: string) => (getColumn(picked, name) as { values: Float64Array }).values;
  const origins = getColumn(picked, 'origin') as { codes: Int32Array; dictionary: readonly string[] };
  return {
    distance: numbers('distance'),
    hour: numbers('hour'),
    delay: numbers('delay'),
    origin: Array.from(origins.codes, (c) => (c < 0 ? null : origins.dictionary[c])),
  };
}

const WEST_COAST = new Set(['LAX', 'SFO', 'SEA', 'PDX', 'SAN', 'OAK', 'SJC', 'SMF']);

describe('drift on real flights (vega-datasets flights-3m)', () => {
  it('flags a shifted population, not a random half of January', { timeout: 60_000 }, async () => {
    const january = await flightsMonth('2001-01-01', '2001-02-01');
    const june = await flightsMonth('2001-06-01', '2001-07-01');
    // Reference: a random half of January; same-distribution live data: rows of the other half.
    const rng = createRng(3);
    const halves: [number[], number[]] = [[], []];
    for (let i = 0; i < january.numRows; i++) halves[rng.nextInt(2)].push(i);
    const profile = profileTable(takeRows(january, halves[0]));
    const value = (rows: DriftRow[], feature: string, statistic: string) =>
      rows.find((r) => r.feature === feature && r.statistic === statistic)!;

    const same = driftTable(profile, liveColumns(takeRows(january, halves[1]), 20_000, 4));
    expect(same.filter((r) => r.drifted)).toEqual([]);
    for (const r of same.filter((r) => r.statistic !== 'chi2')) expect(r.value).toBeLessThan(0.02);

    // June, all airports: the schedule (distance, hour, origin) barely moves, delays do (summer storms), by less than
    // the default thresholds but far beyond chance.
    const summer = driftTable(profile, liveColumns(june, 20_000, 5));
    expect(value(summer, 'distance', 'ks').value).toBeLessThan(0.05);
    expect(value(summer, 'hour', 'ks').value).toBeLessThan(0.05);
    expect(value(summer, 'delay', 'ks').pValue).toBeLessThan(0.01);

    // June traffic from West Coast airports only (a new client, a regional outage): longer flights, other airports.
    const west = driftTable(
      profile,
      liveColumns(june, 5000, 6, (o) => WEST_COAST.has(o)),
    );
    const drifted = new Set(west.filter((r) => r.drifted).map((r) => `${r.feature}:${r.statistic}`));
    expect(drifted).toEqual(new Set(['distance:psi', 'distance:ks', 'origin:psi', 'origin:chi2']));
  });
});
