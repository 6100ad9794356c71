/**
 * `npm run bench:drift`: drift statistics over a monitoring window of 1M logged rows × 10 numeric features against
 * training profiles (20-bin histograms + 10,000-value reference samples). Goal: PSI + KS of all of it in ≤ 2 s.
 *
 * Each feature is sorted once; PSI bins the sorted values with one walk over the edges, KS merge-walks them with the
 * sorted reference sample.
 */
import { binSorted, ksTwoSample, psi, sortedPresent } from '../ml/drift';
import { profileTable } from '../ml/profile';
import { createRng } from '../ml/random';
import { numericColumn, tableFromColumns } from '../ml/table';

const ROWS = 1_000_000;
const FEATURES = 10;
const GOAL_S = 2;

const rng = createRng(42);
const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());

// Training data: 200k rows per feature, with different shapes (normal, skewed, integer-valued).
const shape = (f: number, shift: number) => () =>
  f % 3 === 0 ? 10 * f + normal() + shift : f % 3 === 1 ? Math.exp(normal() / 2 + shift) : Math.floor(24 * rng.next());
const training = tableFromColumns(
  Array.from({ length: FEATURES }, (_, f) =>
    numericColumn(`f${f}`, Float64Array.from({ length: 200_000 }, shape(f, 0))),
  ),
);
const profile = profileTable(training);
// Live window: half the features shifted a little.
const live = Array.from({ length: FEATURES }, (_, f) => Float64Array.from({ length: ROWS }, shape(f, f % 2 ? 0.1 : 0)));

let sortS = 0;
let psiS = 0;
let ksS = 0;
const results: { feature: string; psi: number; ks: number }[] = [];
for (let f = 0; f < FEATURES; f++) {
  const reference = profile.columns[f].numeric!;
  const sample = Float64Array.from(reference.sample!);
  let t = performance.now();
  const sorted = sortedPresent(live[f]);
  sortS += (performance.now() - t) / 1000;
  t = performance.now();
  const p = psi(reference.histogram.counts, binSorted(sorted, reference.histogram.edges));
  psiS += (performance.now() - t) / 1000;
  t = performance.now();
  const ks = ksTwoSample(sample, sorted);
  ksS += (performance.now() - t) / 1000;
  results.push({ feature: `f${f}`, psi: p, ks: ks.statistic });
}

const total = sortS + psiS + ksS;
const fmt = (s: number) => s.toFixed(3);
console.log(`drift statistics over a ${ROWS.toLocaleString('en-US')}-row window (Node ${process.version})\n`);
console.log('| rows | features | sort s | PSI s | KS s | total s | goal s | within goal |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |');
console.log(
  `| ${ROWS} | ${FEATURES} | ${fmt(sortS)} | ${fmt(psiS)} | ${fmt(ksS)} | ${fmt(total)} | ${GOAL_S} | ${total <= GOAL_S ? 'yes' : 'NO'} |`,
);
console.log('\n(sort: once per feature, shared by PSI and KS; PSI s and KS s exclude it)');
console.log('\n' + results.map((r) => `${r.feature}: psi ${r.psi.toFixed(4)}, ks ${r.ks.toFixed(4)}`).join('\n'));
if (total > GOAL_S) process.exitCode = 1;
