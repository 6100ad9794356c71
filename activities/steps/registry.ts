import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { OnnxRefSchema } from '../../storage/registry';
import { ErrorTypes } from '../../workflows/errors';
import { readVerified } from '../data/dataset-ref';
import { failOnRegistryErrors, parseStepInput, registryOf } from './step-input';
import type { StepHandler } from './types';

const RefSchema = z.object({ uri: z.string(), sha256: z.string() }).loose();

const ResolveSchema = z.strictObject({ name: z.string(), alias: z.string() });
const RegisterSchema = z.strictObject({
  name: z.string(),
  model: OnnxRefSchema.loose(),
  card: RefSchema,
  metrics: z.unknown().optional(),
});
const PromoteSchema = z.strictObject({
  name: z.string(),
  version: z.coerce.number().int().positive().optional(),
  alias: z.string(),
  reason: z.string().optional(),
  /** Rollback only: the version to point back at (`null`: the alias was not set before). */
  restore: z.number().int().positive().nullable().optional(),
});

/** `model.resolve`: the version behind an alias, e.g. the production champion (null outputs when unset). */
export const resolveModel: StepHandler = (raw, ctx) =>
  failOnRegistryErrors(async () => {
    const input = parseStepInput(ResolveSchema, raw, ctx);
    const registry = registryOf(ctx);
    const alias = await registry.getAlias(input.name, input.alias);
    if (!alias) return { version: null, model: null };
    const v = await registry.getVersion(input.name, alias.version);
    return { version: v.version, model: v.onnx };
  });

/** `model.register`: a new version from a training step's ONNX file and card; a retried step yields one version. */
export const registerModel: StepHandler = (raw, ctx) =>
  failOnRegistryErrors(async () => {
    const input = parseStepInput(RegisterSchema, raw, ctx);
    const card = JSON.parse((await readVerified(ctx.store, input.card)).toString()) as Record<string, unknown>;
    const { version, created } = await registryOf(ctx).registerVersion({
      name: input.name,
      runId: ctx.task.runId,
      stepId: ctx.task.stepId,
      onnx: { uri: input.model.uri, sha256: input.model.sha256, size: input.model.size },
      card: input.metrics ? { ...card, evaluation: input.metrics } : card,
    });
    return { name: input.name, version, created };
  });

/**
 * `model.promote`: points an alias at a version with a compare-and-set on what it pointed at before, so two runs
 * promoting at once cannot both win. As a rollback it puts the alias back where it was.
 */
export const promoteModel: StepHandler = (raw, ctx) =>
  failOnRegistryErrors(async () => {
    const input = parseStepInput(PromoteSchema, raw, ctx);
    const registry = registryOf(ctx);
    const opts = { runId: ctx.task.runId, reason: input.reason };
    if (ctx.task.rollback) {
      const restored =
        input.restore == null
          ? await registry.removeAlias(input.name, input.alias, { ...opts, reason: 'rollback' })
          : await registry.setAlias(input.name, input.alias, input.restore, { ...opts, reason: 'rollback' });
      return { alias: input.alias, version: input.restore ?? null, changed: restored?.changed ?? false };
    }
    if (input.version === undefined) {
      throw ApplicationFailure.create({
        type: ErrorTypes.StepInputInvalid,
        message: `step "${ctx.task.stepId}": with.version is required to promote`,
        nonRetryable: true,
      });
    }
    const current = await registry.getAlias(input.name, input.alias);
    const previous = current?.version ?? null;
    const update = await registry.setAlias(input.name, input.alias, input.version, {
      ...opts,
      ...(current ? { ifMatch: current.etag } : { expectedVersion: null }),
    });
    // A retried attempt whose first try already moved the alias sees itself as "current": report the true previous.
    const before = update.changed ? previous : (update.change.from ?? null);
    return { alias: input.alias, version: input.version, previous: before, changed: update.changed };
  });
