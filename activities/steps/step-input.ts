/**
 * What every step handler does with its input and its registry errors, in one place: a bad `with` is a
 * non-retryable `StepInputInvalid` naming the step and each field; a registry error (missing model, lost race on an
 * alias) fails the step for good, since a retry cannot fix it.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { z } from 'zod';
import { RegistryErrorTypes, type ModelRegistry } from '../../storage/registry';
import { ErrorTypes } from '../../workflows/errors';
import type { StepContext } from './types';

/** A non-retryable `StepInputInvalid` failure, prefixed with the step id. */
export function stepInputInvalid(ctx: Pick<StepContext, 'task'>, message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorTypes.StepInputInvalid,
    message: `step "${ctx.task.stepId}": ${message}`,
    nonRetryable: true,
  });
}

/** `with.<path>: <message>` for every issue, joined. */
export const formatWithIssues = (issues: readonly z.core.$ZodIssue[], prefix = 'with'): string =>
  issues.map((i) => `${[prefix, ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');

/**
 * Parses a step's resolved `with` against its schema.
 *
 * @throws ApplicationFailure `StepInputInvalid` (non-retryable) listing every bad field
 */
export function parseStepInput<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  ctx: Pick<StepContext, 'task'>,
): z.output<S> {
  const r = schema.safeParse(raw ?? {});
  if (r.success) return r.data;
  throw stepInputInvalid(ctx, formatWithIssues(r.error.issues));
}

/** The worker's model registry; a worker without one cannot run registry steps. */
export function registryOf(ctx: StepContext): ModelRegistry {
  if (!ctx.registry) throw new Error('this worker has no model registry configured');
  return ctx.registry;
}

const permanentRegistryErrors = new Set<string>(Object.values(RegistryErrorTypes));

/** Runs `fn`; registry errors become non-retryable failures of the same type, anything else is rethrown. */
export async function failOnRegistryErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as Error;
    if (permanentRegistryErrors.has(e.name)) {
      throw ApplicationFailure.create({ type: e.name, message: e.message, nonRetryable: true });
    }
    throw err;
  }
}
