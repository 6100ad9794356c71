import { z } from 'zod';
import { registerStepType } from './step-types';

// The ML step types. Their `with` is checked here for the keys a definition may use (so `mlpipe validate` and
// prepareRun catch typos); each activity checks the resolved values strictly at run time.
const ref = z.union([z.string(), z.object({ uri: z.string(), sha256: z.string() }).loose()]);

registerStepType('ingest', {
  description: 'Reads a dataset (Parquet, CSV, JSON, Arrow), derives features, splits it and checks expectations',
  withSchema: z
    .object({
      source: z.string(),
      format: z.enum(['parquet', 'csv', 'json', 'ndjson', 'arrow']).optional(),
      columns: z.record(z.string(), z.string()).optional(),
      filter: z.unknown().optional(),
      derive: z.record(z.string(), z.string()).optional(),
      split: z.unknown().optional(),
      expect: z.unknown().optional(),
      onBadRows: z.enum(['fail', 'skip']).optional(),
      sample: z.number().int().nonnegative().optional(),
      label: z.string().optional(),
    })
    .strict(),
  defaultQueue: 'cpu',
});

/** What both trainers take; train.gbdt adds its checkpoint interval. */
const trainWith = z.object({
  train: ref,
  valid: ref.optional(),
  label: z.string(),
  features: z.array(z.string()).optional(),
  derive: z.unknown().optional(),
  name: z.string().optional(),
  params: z.record(z.string(), z.unknown()),
});

registerStepType('train.gbdt', {
  description: 'Trains gradient-boosted trees and exports one ONNX file with its model card',
  withSchema: trainWith.extend({ checkpointEvery: z.number().int().positive().optional() }).strict(),
  defaultQueue: 'gpu',
});

registerStepType('train.linear', {
  description: 'Trains a logistic / softmax / least-squares model with L2 and exports one ONNX file with its card',
  withSchema: trainWith.strict(),
  defaultQueue: 'cpu',
});

registerStepType('evaluate', {
  description: 'Scores a holdout with the exported ONNX model, checks gates and the champion, writes a report',
  withSchema: z
    .object({
      model: ref,
      dataset: ref,
      label: z.string().optional(),
      threshold: z.number().optional(),
      batchSize: z.number().int().positive().optional(),
      gates: z.record(z.string(), z.unknown()).optional(),
      champion: z.unknown().optional(),
    })
    .strict(),
  defaultQueue: 'cpu',
});

registerStepType('model.register', {
  description: 'Registers a trained model as a new version (idempotent per run and step)',
  withSchema: z.object({ name: z.string(), model: ref, card: ref, metrics: z.unknown().optional() }).strict(),
  defaultQueue: 'cpu',
});

registerStepType('model.promote', {
  description: 'Points an alias (production, candidate, ...) at a version; its rollback restores the previous one',
  withSchema: z
    .object({
      name: z.string(),
      version: z.union([z.number(), z.string()]).optional(),
      alias: z.string(),
      reason: z.string().optional(),
      restore: z.unknown().optional(),
    })
    .strict(),
  defaultQueue: 'cpu',
});

registerStepType('model.resolve', {
  description: 'Looks up the version behind an alias (null outputs when the alias is not set)',
  withSchema: z.object({ name: z.string(), alias: z.string() }).strict(),
  defaultQueue: 'cpu',
});

registerStepType('deploy', {
  description: 'Promotes a version to production (direct, shadow or canary) and smoke-tests every serving instance',
  withSchema: z
    .object({
      name: z.string(),
      version: z.union([z.number(), z.string()]),
      strategy: z.enum(['direct', 'shadow', 'canary']).optional(),
      smoke: ref.nullable().optional(),
      smokeTolerance: z.number().optional(),
      waitTimeout: z.union([z.string(), z.number()]).optional(),
      minInstances: z.number().int().nonnegative().optional(),
      reason: z.string().optional(),
      canary: z
        .object({
          share: z.unknown(),
          soak: z.unknown(),
          minRequests: z.unknown(),
          maxErrorRateIncrease: z.unknown(),
          maxLatencyRatio: z.unknown(),
          maxQualityDrop: z.unknown(),
          minLabels: z.unknown(),
          qualityMetric: z.unknown(),
        })
        .partial()
        .strict()
        .optional(),
      shadow: z
        .object({
          soak: z.unknown(),
          minCompared: z.unknown(),
          minAgreement: z.unknown(),
          tolerance: z.unknown(),
          maxErrorRateIncrease: z.unknown(),
        })
        .partial()
        .strict()
        .optional(),
      monitor: z.record(z.string(), z.unknown()).optional(),
    })
    .strict(),
  defaultQueue: 'cpu',
});

registerStepType('deploy.rollback', {
  description: "Puts production back on a version (deploy's rollback), resets traffic and waits for serving",
  withSchema: z
    .object({ name: z.string(), restore: z.unknown(), waitTimeout: z.union([z.string(), z.number()]).optional() })
    .strict(),
  defaultQueue: 'cpu',
});
