import { z } from 'zod';
import { formatPath } from './issues';
import { DurationSchema } from './schema';
import { zodFindings } from './zod-issues';

/** Where a step type runs: an activity on the CPU or GPU queue, or inside the workflow itself. */
export type StepQueue = 'cpu' | 'gpu' | 'workflow';

/** What the language knows about a step type (`uses:`). The implementation lives in activities/ or workflows/. */
export interface StepTypeSpec {
  description: string;
  /**
   * Schema of `with`, checked on the resolved inputs at run time. Static validation checks only the parts that hold
   * no `${{ }}` expression.
   */
  withSchema: z.ZodType;
  /** Where the step runs unless it says `queue:` or `resources: { gpu }`. */
  defaultQueue: StepQueue;
}

/** Step type names: lower-case words, dot-separated (`train.gbdt`). */
export const STEP_TYPE_NAME_PATTERN = /^[a-z][a-zA-Z0-9_-]*(\.[a-z][a-zA-Z0-9_-]*)*$/;

const builtIns = {
  echo: {
    description: 'Returns its inputs as outputs (wiring, tests)',
    withSchema: z.record(z.string(), z.unknown()),
    defaultQueue: 'cpu',
  },
  sleep: {
    description: 'Waits for a duration',
    withSchema: z.object({ duration: DurationSchema }).strict(),
    defaultQueue: 'cpu',
  },
  command: {
    description: 'Runs a program (argv, no shell); the JSON it writes to $MLPIPE_OUTPUTS becomes the outputs',
    withSchema: z
      .object({
        run: z.array(z.string()).min(1),
        env: z.record(z.string(), z.string()).optional(),
        cwd: z.string().optional(),
        timeout: DurationSchema.optional(),
        outputs: z.literal('json-file').optional(),
      })
      .strict(),
    defaultQueue: 'cpu',
  },
  approval: {
    description: 'Waits for an approve or reject signal',
    withSchema: z
      .object({
        timeout: DurationSchema.optional(),
        approvers: z.array(z.string()).optional(),
      })
      .strict(),
    defaultQueue: 'workflow',
  },
  pipeline: {
    description: 'Runs another pipeline as a child workflow; its outputs become the outputs',
    withSchema: z
      .object({
        pipeline: z.string().min(1),
        params: z.record(z.string(), z.unknown()).optional(),
      })
      .strict(),
    defaultQueue: 'workflow',
  },
  fail: {
    description: 'Fails its first `failAttempts` attempts (every attempt by default), then succeeds; for tests',
    withSchema: z
      .object({
        message: z.string().optional(),
        type: z.string().optional(),
        nonRetryable: z.boolean().optional(),
        failAttempts: z.number().int().nonnegative().optional(),
      })
      .strict(),
    defaultQueue: 'cpu',
  },
} satisfies Record<string, StepTypeSpec>;

/** The catalogue of step types, by `uses` name. Add to it with {@link registerStepType}. */
export const STEP_TYPES: Record<string, StepTypeSpec> = { ...builtIns };

/**
 * Adds a step type. Register it in a pure module that the workflow bundle imports as well (the interpreter validates
 * definitions inside the workflow sandbox), e.g. a file under definitions/.
 *
 * @throws Error for a malformed name, or a name already registered with another spec.
 * @example
 * registerStepType('train.gbdt', {
 *   description: 'Trains gradient-boosted trees',
 *   withSchema: z.object({ dataset: z.string(), target: z.string() }).strict(),
 *   defaultQueue: 'gpu',
 * });
 */
export function registerStepType(name: string, spec: StepTypeSpec): void {
  if (!STEP_TYPE_NAME_PATTERN.test(name)) {
    throw new Error(`invalid step type name "${name}": lower-case words separated by dots, e.g. "train.gbdt"`);
  }
  const existing = getStepType(name);
  if (existing && existing !== spec) throw new Error(`step type "${name}" is already registered`);
  STEP_TYPES[name] = spec;
}

/** The spec of a step type, or undefined (never a property of Object.prototype). */
export function getStepType(name: string): StepTypeSpec | undefined {
  return Object.hasOwn(STEP_TYPES, name) ? STEP_TYPES[name] : undefined;
}

/** Registered step type names, sorted. */
export function stepTypeNames(): string[] {
  return Object.keys(STEP_TYPES).sort();
}

/**
 * Checks resolved `with` inputs against the step type's schema (run time, after expressions are evaluated).
 *
 * @returns the parsed inputs, or one message per problem (`with.run[1]: expected string, got number`).
 */
export function parseStepInput(
  uses: string,
  input: unknown,
): { ok: true; value: unknown } | { ok: false; issues: string[] } {
  const spec = getStepType(uses);
  if (!spec) return { ok: false, issues: [`unknown step type "${uses}"`] };
  const result = spec.withSchema.safeParse(input ?? {});
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    issues: zodFindings(spec.withSchema, result.error.issues, input ?? {}, { base: ['with'] }).map(
      (f) => `${formatPath(f.path)}: ${f.message}`,
    ),
  };
}
