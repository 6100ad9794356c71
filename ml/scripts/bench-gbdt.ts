/**
 * GBDT training benchmark on real flights: `npx tsx ml/scripts/bench-gbdt.ts [rows] [trees]`.
 * Reads the first `rows` flights (default 200,000) of vega-datasets' flights-3m.parquet, trains
 * binary "delay > 15 min" models with 31 leaves and prints time and validation AUC.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { trainGbdtSync } from '../gbdt';
import { auc } from '../metrics';
import { predictPositive } from '../predict';
import { getColumn, sliceRows, tableFromRows } from '../table';

interface FlightRow {
  date: Date;
  delay: bigint;
  distance: bigint;
  origin: string;
  destination: string;
}

async function main(): Promise<void> {
  const rows = Number(process.argv[2] ?? 200_000);
  const trees = Number(process.argv[3] ?? 100);
  const path = join(dirname(require.resolve('vega-datasets')), '..', 'data', 'flights-3m.parquet');
  const bytes = readFileSync(path);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const raw = (await parquetReadObjects({ file, compressors, rowStart: 0, rowEnd: rows })) as FlightRow[];
  const table = tableFromRows(
    raw.map((r) => ({
      distance: Number(r.distance),
      origin: r.origin,
      destination: r.destination,
      hour: r.date.getUTCHours(),
      dayOfWeek: r.date.getUTCDay(),
      delayed: Number(r.delay) > 15 ? 1 : 0,
    })),
  );
  const options = { objective: 'binary' as const, label: 'delayed', numTrees: trees, numLeaves: 31 };

  // CPU time next to wall time: on a shared machine the wall clock also counts other processes.
  const cpuMs = (since: NodeJS.CpuUsage): string => (process.cpuUsage(since).user / 1000).toFixed(0);
  let start = performance.now();
  let cpu = process.cpuUsage();
  trainGbdtSync(table, options);
  const wall = (performance.now() - start).toFixed(0);
  console.log(`train: ${table.numRows} rows, ${trees} trees, 31 leaves: ${wall} ms wall, ${cpuMs(cpu)} ms CPU`);

  const cut = Math.floor(table.numRows * 0.8);
  const train = sliceRows(table, 0, cut);
  const valid = sliceRows(table, cut);
  start = performance.now();
  cpu = process.cpuUsage();
  const model = trainGbdtSync(train, options);
  const elapsed = performance.now() - start;
  const elapsedCpu = cpuMs(cpu);
  const labels = getColumn(valid, 'delayed');
  const validAuc = labels.kind === 'numeric' ? auc(labels.values, predictPositive(model, valid)) : NaN;
  console.log(
    `train on first 80% by time: ${elapsed.toFixed(0)} ms wall, ${elapsedCpu} ms CPU; AUC on last 20%: ${validAuc.toFixed(4)}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
