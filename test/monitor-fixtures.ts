/**
 * What the monitor needs to do real work, shared by test/monitor.test.ts and test/record-histories.ts: a real
 * flights-delay model trained by the shipped pipeline, real flights rows scored by its ONNX file with onnxruntime, and
 * prediction (and feedback) logs written by the serving LogWriter. No vitest imports: the recorder runs outside it.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { readSource } from '../activities/data/readers';
import { compileDerive } from '../ml/features';
import { OnnxModel, positiveProbabilities } from '../ml/onnx-scoring';
import { createRng } from '../ml/random';
import { cellValue, getColumn, takeRows, type Table } from '../ml/table';
import type { ArtifactStore } from '../storage/artifact-store';
import { LogWriter, type FeedbackRecord, type PredictionRecord } from '../storage/prediction-log';
import type { ModelRegistry, OnnxRef } from '../storage/registry';
import type { PipelineResult, Queues } from '../workflows/types';

/** Origins of a population the January model never saw much of (with June dates: drift). */
export const WEST_COAST = new Set(['LAX', 'SFO', 'SEA', 'PDX', 'SAN', 'OAK', 'SJC', 'SMF']);

/** A registered flights-delay version. */
export interface TrainedFlightsModel {
  name: string;
  version: number;
  onnx: OnnxRef;
  card: Record<string, unknown>;
  /** The model's features, from its card. */
  features: string[];
}

/**
 * Runs the shipped flights-delay pipeline on a small sample of the first ten days of January 2001 (no gate can stop
 * it, nothing deployed) and returns the version it registered.
 */
export async function trainFlightsModel(
  client: Client,
  registry: ModelRegistry,
  run: { taskQueue: string; workflowId: string; queues?: Partial<Queues> },
): Promise<TrainedFlightsModel> {
  const result = (await client.workflow.execute('pipeline', {
    taskQueue: run.taskQueue,
    workflowId: run.workflowId,
    args: [
      {
        pipeline: 'flights-delay',
        params: {
          from: '2001-01-01',
          to: '2001-01-11',
          validFrom: '2001-01-09',
          numTrees: 20,
          sample: 40_000,
          minAuc: 0,
          maxAucDrop: 1,
          deploy: false,
        },
        ...(run.queues ? { queues: run.queues } : {}),
      },
    ],
  })) as PipelineResult;
  const version = result.outputs.version as number;
  const entry = await registry.getVersion('flights-delay', version);
  const features = (entry.card.features as { name: string }[]).map((f) => f.name);
  return { name: 'flights-delay', version, onnx: entry.onnx, card: entry.card, features };
}

/** Where {@link MonitorFixtures.writeLogs} writes, and what. */
export interface LogOptions {
  modelName: string;
  version: number;
  table: Table;
  scores: Float64Array;
  /** Epoch ms of the first record. */
  start: number;
  /** Between records. @default 100 */
  spacingMs?: number;
  /** Write feedback (the true `delayed`) for every record. */
  feedback?: boolean;
  idPrefix: string;
}

/** Data for monitor runs, made with one trained model. */
export interface MonitorFixtures {
  trained: TrainedFlightsModel;
  /** The trained ONNX file, loaded; {@link MonitorFixtures.release} frees it. */
  model: OnnxModel;
  /** Flights with `from <= date < to`, with the derivation the model was trained with (as serving applies it). */
  flightsBetween(from: string, to: string): Promise<Table>;
  /** `n` seeded random rows of `table` (those whose origin `keep` accepts), with the model's scores. */
  scoredRows(
    table: Table,
    n: number,
    seed: number,
    keep?: (origin: string) => boolean,
  ): Promise<{ rows: Table; scores: Float64Array }>;
  /** Writes prediction (and feedback) records through the serving LogWriter and flushes them; throws if one failed. */
  writeLogs(o: LogOptions): Promise<void>;
  /** A registry model of its own holding the trained ONNX file and card as versions 1..n. */
  registerCopies(name: string, versions: number): Promise<void>;
  release(): Promise<void>;
}

/** Loads the trained model and binds the fixtures to the store and registry the monitor reads. */
export async function createMonitorFixtures(deps: {
  store: ArtifactStore;
  registry: ModelRegistry;
  trained: TrainedFlightsModel;
}): Promise<MonitorFixtures> {
  const { store, registry, trained } = deps;
  const model = await OnnxModel.load(await registry.loadModelBytes(trained.name, trained.version));
  const derive = compileDerive(trained.card.derive as Record<string, string>);

  return {
    trained,
    model,

    async flightsBetween(from, to) {
      const read = await readSource('npm://vega-datasets/data/flights-3m.parquet', store, {
        columns: {
          date: 'timestamp',
          delay: 'number',
          distance: 'number',
          origin: 'category',
          destination: 'category',
        },
        filters: [{ column: 'date', from, to }],
      });
      return derive.applyWithTypes(read.table).table;
    },

    async scoredRows(table, n, seed, keep = () => true) {
      const origin = getColumn(table, 'origin');
      const eligible: number[] = [];
      for (let i = 0; i < table.numRows; i++) if (keep(String(cellValue(origin, i)))) eligible.push(i);
      const rng = createRng(seed);
      const rows = takeRows(
        table,
        Array.from({ length: n }, () => eligible[rng.nextInt(eligible.length)]),
      );
      return { rows, scores: positiveProbabilities(await model.score(rows)) };
    },

    async writeLogs(o) {
      const writerId = () => `w-${randomUUID().slice(0, 8)}`;
      const predictions = new LogWriter({ store, kind: 'predictions', writerId: writerId() });
      const feedback = new LogWriter({ store, kind: 'feedback', writerId: writerId() });
      const columns = Object.fromEntries(
        ['date', 'delayed', ...trained.features].map((c) => [c, getColumn(o.table, c)]),
      );
      for (let i = 0; i < o.table.numRows; i++) {
        const id = `${o.idPrefix}-${i}`;
        const ts = o.start + i * (o.spacingMs ?? 100);
        const features: PredictionRecord['features'] = {};
        for (const f of trained.features) features[f] = cellValue(columns[f], i);
        features.date = new Date(cellValue(columns.date, i) as number).toISOString();
        predictions.append({
          id,
          ts,
          model: o.modelName,
          version: o.version,
          role: 'production',
          features,
          score: o.scores[i],
          label: o.scores[i] >= 0.5 ? 1 : 0,
        });
        if (o.feedback) {
          const record: FeedbackRecord = {
            id,
            ts: ts + 50,
            model: o.modelName,
            label: cellValue(columns.delayed, i) as number,
          };
          feedback.append(record);
        }
      }
      await predictions.close();
      await feedback.close();
      const failed = predictions.failedFlushes + feedback.failedFlushes;
      if (failed) throw new Error(`writeLogs: ${failed} flush(es) of ${o.modelName} logs to the store failed`);
    },

    async registerCopies(name, versions) {
      for (let v = 1; v <= versions; v++) {
        await registry.registerVersion({
          name,
          runId: `copy-${name}-${v}`,
          stepId: 'register',
          onnx: trained.onnx,
          card: trained.card,
        });
      }
    },

    release: () => model.release(),
  };
}
