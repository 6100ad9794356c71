import { z } from 'zod';
import {
  exportGbdtToOnnx,
  exportLinearToOnnx,
  featureImportance,
  GbdtModel,
  GbdtParamsSchema,
  LinearParamsSchema,
  trainGbdt,
  trainLinear,
  TrainingInputError,
  type GbdtModelJSON,
} from '../../ml';
import { codeVersion } from '../../workers/version';
import { readDatasetTable } from '../data/dataset-ref';
import { parseStepInput, stepInputInvalid } from './step-input';
import type { StepContext, StepHandler } from './types';

const DatasetRefSchema = z.object({ uri: z.string(), sha256: z.string().regex(/^[a-f0-9]{64}$/) }).loose();

export const TrainGbdtInputSchema = z.strictObject({
  /** Training split (an ingest output). */
  train: DatasetRefSchema,
  /** Validation split for early stopping and the reported metric. */
  valid: DatasetRefSchema.optional(),
  label: z.string().min(1),
  /** @default every column but the label */
  features: z.array(z.string().min(1)).min(1).optional(),
  /** Feature derivation of the ingest step, kept in the model card so serving computes the same features. */
  derive: z.record(z.string(), z.string()).optional(),
  /** Model name recorded in the card (the registry name). */
  name: z.string().optional(),
  params: z.record(z.string(), z.unknown()),
  /** Checkpoint to the store every N trees. @default 10 */
  checkpointEvery: z.number().int().positive().default(10),
});
export type TrainGbdtInput = z.input<typeof TrainGbdtInputSchema>;

/** The model card stored beside every ONNX file (and inside it, as metadata `mlpipe.model_card`). */
export interface ModelCard {
  name?: string;
  kind: 'gbdt' | 'linear';
  objective: string;
  label: string;
  classes: string[] | null;
  features: { name: string; kind: 'numeric' | 'categorical'; categories?: string[] }[];
  derive: Record<string, string>;
  params: Record<string, unknown>;
  metrics: { trainLoss?: number; validMetric?: number; metric?: string; bestIteration?: number; iterations: number };
  importance: { feature: string; importance: number; share: number }[];
  lineage: { train: string; valid?: string; runId: string; stepId: string; codeVersion: string };
}

interface Resume {
  checkpoint: string;
  iteration: number;
}

/**
 * `train.gbdt`: gradient-boosted trees on an ingested dataset, exported to one ONNX file (preprocessing included)
 * plus a model card. Heartbeats every tree and checkpoints to the store; a retried attempt resumes from the last
 * checkpoint instead of starting over.
 */
export const trainGbdtStep: StepHandler = async (raw, ctx) => {
  const input = parseStepInput(TrainGbdtInputSchema, raw, ctx);
  const params = parseParams(GbdtParamsSchema, input.params, ctx);
  const train = await readDatasetTable(ctx.store, input.train);
  const valid = input.valid ? await readDatasetTable(ctx.store, input.valid) : undefined;
  ctx.heartbeat({ phase: 'loaded', rows: train.numRows });

  // Stable across attempts: the retried attempt finds what the killed one saved.
  const checkpointKey = `runs/${ctx.task.runId}/${ctx.task.stepId}/checkpoint.json`;
  const resume = resumeFrom(ctx.resumeFrom);
  let initModel: GbdtModelJSON | undefined;
  if (resume) {
    const saved = await ctx.store.tryGet(resume.checkpoint);
    if (saved) initModel = JSON.parse(saved.toString()) as GbdtModelJSON;
  }

  let last: { trainLoss?: number; validMetric?: number; metric?: string; bestIteration?: number } = {};
  let lastCheckpoint: Resume | undefined = resume;
  let model: GbdtModel;
  try {
    model = await trainGbdt(train, {
      ...params,
      label: input.label,
      features: input.features,
      valid,
      initModel,
      signal: ctx.signal,
      onIteration: async (p) => {
        last = { trainLoss: p.trainLoss, validMetric: p.validMetric, metric: p.metric, bestIteration: p.bestIteration };
        if (p.iteration % input.checkpointEvery === 0 && p.iteration < p.numIterations) {
          await ctx.store.put(checkpointKey, JSON.stringify(p.checkpoint()), { contentType: 'application/json' });
          lastCheckpoint = { checkpoint: checkpointKey, iteration: p.iteration };
        }
        ctx.heartbeat({ ...lastCheckpoint, progress: p.iteration, of: p.numIterations, ...last });
      },
    });
  } catch (err) {
    if (err instanceof TrainingInputError) throw stepInputInvalid(ctx, err.message);
    throw err;
  }

  const card: ModelCard = {
    name: input.name,
    kind: 'gbdt',
    objective: params.objective,
    label: input.label,
    classes: model.classes ? [...model.classes] : null,
    features: model.features.map((f) => ({ ...f })),
    derive: input.derive ?? {},
    params: params as Record<string, unknown>,
    metrics: { ...last, iterations: model.numIterations },
    importance: featureImportance(model, 'gain'),
    lineage: lineageOf(input, ctx),
  };
  const onnx = Buffer.from(exportGbdtToOnnx(model, { modelCard: card, producerVersion: codeVersion }));
  return { ...(await saveModel(ctx, onnx, card)), resumedFrom: resume?.iteration ?? null };
};

export const TrainLinearInputSchema = TrainGbdtInputSchema.omit({ checkpointEvery: true });

/** `train.linear`: logistic / softmax / least squares with L2 and standardisation, exported like `train.gbdt`. */
export const trainLinearStep: StepHandler = async (raw, ctx) => {
  const input = parseStepInput(TrainLinearInputSchema, raw, ctx);
  const params = parseParams(LinearParamsSchema, input.params, ctx);
  const train = await readDatasetTable(ctx.store, input.train);
  ctx.heartbeat({ phase: 'loaded', rows: train.numRows });
  let model;
  try {
    model = trainLinear(train, { ...params, label: input.label, features: input.features });
  } catch (err) {
    throw stepInputInvalid(ctx, (err as Error).message);
  }
  const card: ModelCard = {
    name: input.name,
    kind: 'linear',
    objective: params.objective,
    label: input.label,
    classes: model.classes ? [...model.classes] : null,
    features: model.features.map((f) =>
      f.kind === 'categorical'
        ? { name: f.name, kind: f.kind, categories: [...f.categories] }
        : { name: f.name, kind: f.kind },
    ),
    derive: input.derive ?? {},
    params: params as Record<string, unknown>,
    metrics: { iterations: model.iterations },
    importance: [],
    lineage: lineageOf(input, ctx),
  };
  const onnx = Buffer.from(exportLinearToOnnx(model, { modelCard: card, producerVersion: codeVersion }));
  return { ...(await saveModel(ctx, onnx, card)), converged: model.converged };
};

/** One ONNX file and its card, at keys derived from (run, step) so a retried step overwrites its own output. */
async function saveModel(ctx: StepContext, onnx: Buffer, card: ModelCard) {
  const prefix = `models/runs/${ctx.task.runId}/${ctx.task.stepId}`;
  const stored = await ctx.store.put(`${prefix}/model.onnx`, onnx, { contentType: 'application/octet-stream' });
  const cardStored = await ctx.store.put(
    `${prefix}/card.json`,
    JSON.stringify({ ...card, onnx: { uri: stored.uri, sha256: stored.sha256, size: stored.size } }, null, 2),
    { contentType: 'application/json' },
  );
  return {
    model: { uri: stored.uri, sha256: stored.sha256, size: stored.size },
    card: { uri: cardStored.uri, sha256: cardStored.sha256 },
    metrics: card.metrics,
    features: card.features.map((f) => f.name),
  };
}

/** The trainer's `with.params`, every bad one named. */
function parseParams<S extends z.ZodType>(schema: S, raw: unknown, ctx: StepContext): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw stepInputInvalid(
    ctx,
    `with.params: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
  );
}

/** Where a model came from: its data, the run and step that trained it, the code. */
function lineageOf(input: { train: { sha256: string }; valid?: { sha256: string } }, ctx: StepContext) {
  return {
    train: input.train.sha256,
    valid: input.valid?.sha256,
    runId: ctx.task.runId,
    stepId: ctx.task.stepId,
    codeVersion,
  };
}

function resumeFrom(details: unknown): Resume | undefined {
  const d = details as Partial<Resume> | undefined;
  return d && typeof d.checkpoint === 'string' && typeof d.iteration === 'number'
    ? { checkpoint: d.checkpoint, iteration: d.iteration }
    : undefined;
}
