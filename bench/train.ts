/**
 * `npm run bench:train [-- --rows N --only mlpipe,lightgbm,sklearn --repeat N --profile DIR --json FILE]`:
 * our GBDT against LightGBM and scikit-learn's HistGradientBoostingClassifier on vega-datasets'
 * flights-3m.parquet (all 3M rows by default), plus ingest and scoring throughput.
 *
 * Every trainer reads the same Arrow file written here, trains on the earlier 80% of the flights by
 * date with the same hyperparameters and 2 threads (ours has one), in a child process of its own
 * (peak RSS = that process's), one after another; with --repeat N the rounds repeat and each
 * library's fastest run is reported (on a shared machine the others' load comes and goes).
 * Every AUC is computed here, by ml/metrics, from the holdout predictions each child writes.
 * Latest figures: README.md, Benchmarks.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { loadConfig } from '../config/env';
import { GbdtModel, type GbdtParams } from '../ml/gbdt';
import { auc } from '../ml/metrics';
import { exportGbdtToOnnx } from '../ml/onnx-export';
import { predictPositive } from '../ml/predict';
import { getColumn, sliceRows, type Column, type Table } from '../ml/table';
import { FEATURES, flightsParquetPath, ingestFlights, LABEL, tableToArrowIpc } from './train-data';
import { ensureBenchVenv, runPythonTrainer } from './train-python';
import type { TrainerReport } from './train-worker';

/** The issue's hyperparameters: 100 trees, 31 leaves, learning rate 0.1, min data in leaf 20, no bagging. */
const PARAMS = {
  objective: 'binary',
  numTrees: 100,
  numLeaves: 31,
  learningRate: 0.1,
  minDataInLeaf: 20,
  baggingFraction: 1,
} satisfies GbdtParams;
const THREADS = 2;
const HOLDOUT_FRACTION = 0.2;
const ONNX_BATCH = 10_000;
const LIBRARIES = ['mlpipe', 'lightgbm', 'sklearn'] as const;
type Library = (typeof LIBRARIES)[number];

const log = (line: string): void => void process.stderr.write(`[bench:train] ${line}\n`);

interface TrainerResult extends TrainerReport {
  auc: number;
  /** Training times of every round, seconds. */
  allTrainSeconds: number[];
  /** The machine's 1-minute load average as each round started: others' work slows every trainer. */
  loadAverages: number[];
}

function trainMlpipe(dir: string, data: string, trainRows: number, profileDir: string | undefined): TrainerReport {
  const out = execFileSync(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      '--import',
      'tsx',
      join(__dirname, 'train-worker.ts'),
      ['--data', data],
      ['--train-rows', String(trainRows)],
      ['--params', JSON.stringify(PARAMS)],
      ['--model', join(dir, 'mlpipe-model.json')],
      ['--predictions', join(dir, 'mlpipe.f64')],
    ].flat(),
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as TrainerReport;
}

function readPredictions(path: string): Float64Array {
  const bytes = readFileSync(path);
  return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Rows per second of `run(table)` over the table, best of `repeats`. */
function rowsPerSecond(numRows: number, repeats: number, run: () => void): number {
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
  }
  return numRows / (best / 1000);
}

/** Feeds of the exported graph for rows [start, end): float32 numeric inputs, string categorical ones. */
function onnxFeeds(columns: readonly Column[], start: number, end: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const column of columns) {
    if (column.kind === 'numeric') {
      feeds[column.name] = new ort.Tensor('float32', Float32Array.from(column.values.subarray(start, end)), [
        end - start,
        1,
      ]);
    } else {
      const strings = new Array<string>(end - start);
      for (let r = start; r < end; r++)
        strings[r - start] = column.codes[r] < 0 ? '' : column.dictionary[column.codes[r]];
      feeds[column.name] = new ort.Tensor('string', strings, [end - start, 1]);
    }
  }
  return feeds;
}

interface OnnxResult {
  rowsPerSecond: number;
  /** Largest |P(onnx) − P(ours)| over the holdout. */
  maxAbsDiff: number;
}

/** Scores the holdout through onnxruntime-node in batches (feed building included), 2 intra-op threads. */
async function scoreOnnx(model: GbdtModel, holdout: Table, ours: Float64Array): Promise<OnnxResult> {
  const session = await ort.InferenceSession.create(exportGbdtToOnnx(model), {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
  });
  try {
    const columns = FEATURES.map((name) => getColumn(holdout, name));
    const n = holdout.numRows;
    let best = Infinity;
    let maxAbsDiff = 0;
    for (let repeat = 0; repeat < 2; repeat++) {
      const start = performance.now();
      for (let from = 0; from < n; from += ONNX_BATCH) {
        const to = Math.min(n, from + ONNX_BATCH);
        const out = await session.run(onnxFeeds(columns, from, to));
        const p = out.probabilities.data as Float32Array;
        if (repeat === 0)
          for (let r = from; r < to; r++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(p[(r - from) * 2 + 1] - ours[r]));
      }
      best = Math.min(best, performance.now() - start);
    }
    return { rowsPerSecond: n / (best / 1000), maxAbsDiff };
  } finally {
    await session.release();
  }
}

const fmt = (x: number, digits: number): string => x.toFixed(digits);
const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
const rate = (x: number): string =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(0)} k` : x.toFixed(0);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      only: { type: 'string' },
      repeat: { type: 'string' },
      profile: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const only = (values.only?.split(',') ?? [...LIBRARIES]) as Library[];
  for (const l of only) if (!LIBRARIES.includes(l)) throw new Error(`--only: unknown library ${l}`);
  const cacheDir = loadConfig().cacheDir ?? join(homedir(), '.cache', 'mlpipe');
  const python = only.some((l) => l !== 'mlpipe') ? ensureBenchVenv(cacheDir, log) : null;

  log(`reading ${flightsParquetPath()}`);
  const start = performance.now();
  const ingest = await ingestFlights(flightsParquetPath(), values.rows ? Number(values.rows) : Infinity);
  const ingestSeconds = (performance.now() - start) / 1000;
  const table = ingest.table;
  const n = table.numRows;
  const trainRows = Math.floor(n * (1 - HOLDOUT_FRACTION));
  const holdout = sliceRows(table, trainRows);
  const labels = getColumn(holdout, LABEL);
  if (labels.kind !== 'numeric') throw new Error('label must be numeric');
  log(`${n} rows in ${ingestSeconds.toFixed(1)} s; train ${trainRows}, holdout ${n - trainRows}`);

  const dir = mkdtempSync(join(tmpdir(), 'mlpipe-bench-train-'));
  try {
    const data = join(dir, 'flights.arrow');
    writeFileSync(data, tableToArrowIpc(table));
    if (values.profile) mkdirSync(values.profile, { recursive: true });

    const results = new Map<Library, TrainerResult>();
    const rounds = Math.max(1, Number(values.repeat ?? 1));
    for (let round = 0; round < rounds; round++) {
      for (const library of only) {
        log(`training ${library}${rounds > 1 ? ` (round ${round + 1} of ${rounds})` : ''}`);
        const predictions = join(dir, `${library}.f64`);
        const load = loadavg()[0];
        const report =
          library === 'mlpipe'
            ? trainMlpipe(dir, data, trainRows, values.profile)
            : runPythonTrainer(python!, { library, data, trainRows, params: PARAMS, threads: THREADS, predictions });
        const previous = results.get(library);
        const allTrainSeconds = [...(previous?.allTrainSeconds ?? []), report.trainSeconds];
        const loadAverages = [...(previous?.loadAverages ?? []), load];
        const holdoutAuc = auc(labels.values, readPredictions(predictions));
        const result: TrainerResult = { ...report, auc: holdoutAuc, allTrainSeconds, loadAverages };
        log(
          `${library}: ${report.trainSeconds.toFixed(2)} s, AUC ${holdoutAuc.toFixed(4)} (load average ${load.toFixed(1)})`,
        );
        const best = previous && previous.trainSeconds <= result.trainSeconds ? previous : result;
        results.set(library, { ...best, allTrainSeconds, loadAverages });
      }
    }

    let scoring: { tsRowsPerSecond: number; onnx: OnnxResult } | null = null;
    if (results.has('mlpipe')) {
      const model = GbdtModel.fromJSON(JSON.parse(readFileSync(join(dir, 'mlpipe-model.json'), 'utf8')));
      let ours: Float64Array = new Float64Array(0);
      const tsRowsPerSecond = rowsPerSecond(holdout.numRows, 3, () => void (ours = predictPositive(model, holdout)));
      scoring = { tsRowsPerSecond, onnx: await scoreOnnx(model, holdout, ours) };
    }

    const names: Record<Library, string> = {
      mlpipe: 'mlpipe GBDT',
      lightgbm: `LightGBM ${results.get('lightgbm')?.version ?? ''}`.trim(),
      sklearn: `sklearn HGB ${results.get('sklearn')?.version ?? ''}`.trim(),
    };
    const libs = only.filter((l) => results.has(l));
    const row = (label: string, cell: (r: TrainerResult) => string): string =>
      `| ${label} | ${libs.map((l) => cell(results.get(l)!)).join(' | ')} |`;
    const lines = [
      `flights-3m.parquet: ${n.toLocaleString('en')} rows, train ${trainRows.toLocaleString('en')} (earliest 80% by date), ` +
        `holdout ${(n - trainRows).toLocaleString('en')}; features ${FEATURES.join(', ')}; ` +
        `100 trees, 31 leaves, lr 0.1, min data in leaf 20, no bagging; ${THREADS} threads for LightGBM and sklearn`,
      '',
      `| | ${libs.map((l) => names[l]).join(' | ')} |`,
      `|---|${libs.map(() => '---:').join('|')}|`,
      row(rounds > 1 ? `training time (s), best of ${rounds}` : 'training time (s)', (r) => fmt(r.trainSeconds, 2)),
      ...(rounds > 1 ? [row('all rounds (s)', (r) => r.allTrainSeconds.map((x) => x.toFixed(1)).join(', '))] : []),
      row('training CPU time (s)', (r) => fmt(r.trainCpuSeconds, 2)),
      row('peak RSS (MiB)', (r) => mb(r.peakRssBytes)),
      row('RSS growth in training (MiB)', (r) => mb(r.peakRssBytes - r.rssBeforeTrainBytes)),
      row('holdout AUC', (r) => fmt(r.auc, 4)),
      row('holdout predict (rows/s, in-process)', (r) => rate((n - trainRows) / r.predictSeconds)),
      row('load average at start of each round', (r) => r.loadAverages.map((x) => x.toFixed(1)).join(', ')),
      '',
      `| throughput | rows/s |`,
      `|---|---:|`,
      `| ingest (parquet → Table, hyparquet) | ${rate(n / ingestSeconds)} |`,
    ];
    if (scoring) {
      lines.push(
        `| TS predictor (predictPositive) | ${rate(scoring.tsRowsPerSecond)} |`,
        `| ONNX (onnxruntime-node, batches of ${ONNX_BATCH / 1000}k, feeds included; max abs diff to TS ${scoring.onnx.maxAbsDiff.toExponential(1)}) | ${rate(scoring.onnx.rowsPerSecond)} |`,
      );
    }
    const ours = results.get('mlpipe');
    const lgbm = results.get('lightgbm');
    if (ours && lgbm) {
      const ratio = ours.trainSeconds / lgbm.trainSeconds;
      const delta = ours.auc - lgbm.auc;
      lines.push(
        '',
        `goal: time ≤ 2× LightGBM: ${ratio.toFixed(2)}× ${ratio <= 2 ? 'met' : 'NOT met'}; ` +
          `AUC ≥ LightGBM − 0.005: ${delta >= 0 ? '+' : ''}${delta.toFixed(4)} ${delta >= -0.005 ? 'met' : 'NOT met'}`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    if (values.json) {
      writeFileSync(
        values.json,
        JSON.stringify({ rows: n, trainRows, ingestSeconds, results: Object.fromEntries(results), scoring }, null, 2),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
