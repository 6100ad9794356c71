/**
 * One training run of our GBDT for `npm run bench:train`, in a process of its own so that its peak
 * RSS is its own: reads the benchmark's Arrow file, trains on the first `--train-rows` rows,
 * writes the model JSON and the holdout's P(delayed) (raw float64), and prints a JSON report.
 *
 *   node --import tsx bench/train-worker.ts --data flights.arrow --train-rows N --params '{...}' \
 *     --model model.json --predictions preds.f64
 *
 * Add `--cpu-prof` before `--import` to profile the training.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { trainGbdtSync, type GbdtParams } from '../ml/gbdt';
import { predictPositive } from '../ml/predict';
import { sliceRows } from '../ml/table';
import { FEATURES, LABEL, tableFromArrowIpc } from './train-data';

/** What the worker prints (one JSON line), the Python trainers print the same fields. */
export interface TrainerReport {
  library: string;
  version: string;
  trainSeconds: number;
  /** CPU seconds (user + system) of the training, all threads. */
  trainCpuSeconds: number;
  predictSeconds: number;
  rssBeforeTrainBytes: number;
  peakRssBytes: number;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      'train-rows': { type: 'string' },
      params: { type: 'string' },
      model: { type: 'string' },
      predictions: { type: 'string' },
    },
  });
  const table = tableFromArrowIpc(readFileSync(values.data!));
  const cut = Number(values['train-rows']);
  const train = sliceRows(table, 0, cut);
  const holdout = sliceRows(table, cut);
  const params = JSON.parse(values.params!) as GbdtParams;

  const rssBeforeTrainBytes = process.memoryUsage().rss;
  const cpu = process.cpuUsage();
  let start = performance.now();
  const model = trainGbdtSync(train, { ...params, label: LABEL, features: [...FEATURES] });
  const trainSeconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const trainCpuSeconds = (used.user + used.system) / 1e6;

  start = performance.now();
  const p = predictPositive(model, holdout);
  const predictSeconds = (performance.now() - start) / 1000;
  writeFileSync(values.predictions!, new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  writeFileSync(values.model!, JSON.stringify(model));

  const report: TrainerReport = {
    library: 'mlpipe',
    version: (JSON.parse(readFileSync(require.resolve('../package.json'), 'utf8')) as { version: string }).version,
    trainSeconds,
    trainCpuSeconds,
    predictSeconds,
    rssBeforeTrainBytes,
    // maxRSS is in KiB.
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main();
