import { ExpressionError } from './expressions';
import { formatDuration, isDuration, parseDuration } from './duration';
import type { DefinitionPath, Finding, SourceMap } from './issues';
import { checkParamValue } from './params';
import { upstreamOf, type Dag } from './plan';
import { normalizeCondition, PARAM_TYPES, PipelineSchema, type ParamSpec } from './schema';
import { getStepType, stepTypeNames } from './step-types';
import { didYouMean } from './suggest';
import { containsExpression, findReferences, hasExpressionDeep, parseTemplate } from './template';
import { valueAt, zodFindings } from './zod-issues';

/**
 * The static checks of a definition, each a small named function. They read the raw input defensively, so that
 * all of them can run even when the schema check fails, and every problem is reported at once.
 */

/** What every check receives. */
export interface CheckContext {
  /** The definition as parsed from YAML/JSON/TS, not yet validated. */
  raw: unknown;
  source?: SourceMap;
  /** Names of the pipelines a `pipeline` step may run; unchecked when absent. */
  knownPipelines?: readonly string[];
}

export type Check = (ctx: CheckContext) => Finding[];

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every step id, whatever its value. */
function stepIds(raw: unknown): string[] {
  const steps = isObject(raw) ? raw.steps : undefined;
  return isObject(steps) ? Object.keys(steps) : [];
}

/** Steps whose value is a mapping. */
function stepEntries(raw: unknown): [string, Obj][] {
  const steps = isObject(raw) ? raw.steps : undefined;
  return isObject(steps) ? Object.entries(steps).filter((e): e is [string, Obj] => isObject(e[1])) : [];
}

/** `needs` entries that are strings, with their path inside the step. */
function needEntries(step: Obj): { id: string; path: DefinitionPath }[] {
  const needs = step.needs;
  if (typeof needs === 'string') return [{ id: needs, path: ['needs'] }];
  if (!Array.isArray(needs)) return [];
  return needs.flatMap((id, i) => (typeof id === 'string' ? [{ id, path: ['needs', i] }] : []));
}

/** The step graph as far as it can be read, edges to unknown steps left out. */
function rawDag(raw: unknown): Dag {
  const ids = new Set(stepIds(raw));
  const steps: Dag['steps'] = {};
  for (const id of ids) steps[id] = { needs: [] };
  for (const [id, step] of stepEntries(raw)) {
    steps[id] = {
      needs: needEntries(step)
        .map((n) => n.id)
        .filter((n) => ids.has(n)),
    };
  }
  return { steps };
}

/** The parts of a definition where `${{ }}` is evaluated. */
interface TemplateField {
  path: DefinitionPath;
  value: unknown;
  stepId?: string;
  kind: 'with' | 'if' | 'forEach' | 'outputs' | 'rollback' | 'pipelineOutputs';
}

function templateFields(raw: unknown): TemplateField[] {
  const fields: TemplateField[] = [];
  for (const [id, step] of stepEntries(raw)) {
    const at = (kind: TemplateField['kind'], key: string, value: unknown) => {
      if (value !== undefined) fields.push({ path: ['steps', id, key], value, stepId: id, kind });
    };
    at('with', 'with', step.with);
    at('if', 'if', normalizeCondition(step.if));
    at('forEach', 'forEach', step.forEach);
    at('outputs', 'outputs', step.outputs);
    if (isObject(step.rollback) && step.rollback.with !== undefined) {
      fields.push({ path: ['steps', id, 'rollback', 'with'], value: step.rollback.with, stepId: id, kind: 'rollback' });
    }
  }
  if (isObject(raw) && raw.outputs !== undefined)
    fields.push({ path: ['outputs'], value: raw.outputs, kind: 'pipelineOutputs' });
  return fields;
}

/** Strings holding `${{` inside a value, with their paths. */
function expressionStrings(value: unknown, path: DefinitionPath): [DefinitionPath, string][] {
  if (containsExpression(value)) return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => expressionStrings(v, [...path, i]));
  if (isObject(value)) return Object.entries(value).flatMap(([k, v]) => expressionStrings(v, [...path, k]));
  return [];
}

const withStep = (stepId: string | undefined) => (stepId !== undefined ? { stepId } : {});

// -----------------------------------------------------------------------------------------------------------------

// A rollback may not have these keys; checkRollback explains why, so checkSchema leaves them out.
const ROLLBACK_FORBIDDEN: Record<string, string> = {
  needs: 'a rollback has no needs: it runs when its step is rolled back, in reverse order of completion',
  forEach: 'a rollback runs once for its step: it has no forEach',
  concurrency: 'a rollback runs once for its step: it has no concurrency',
  if: 'a rollback has no if: it runs whenever its step succeeded and the run fails later',
  rollback: 'a rollback cannot have a rollback of its own',
  cache: 'a rollback is never cached',
  outputs: 'a rollback has no outputs',
  queue: 'a rollback runs on the queue of its step',
  resources: 'a rollback runs on the queue of its step',
};

const isRollbackPath = (path: DefinitionPath) => path.length === 4 && path[0] === 'steps' && path[2] === 'rollback';

/** Shape and types, from the zod schema: unknown keys (with "did you mean"), missing keys, wrong types. */
export const checkSchema: Check = ({ raw }) => {
  const result = PipelineSchema.safeParse(raw);
  if (result.success) return [];
  return zodFindings(PipelineSchema, result.error.issues, raw, {
    skip: (issue, path) =>
      issue.code === 'unrecognized_keys' && isRollbackPath(path) && Object.hasOwn(ROLLBACK_FORBIDDEN, path[3]),
  }).map((f) => (f.path[0] === 'steps' && typeof f.path[1] === 'string' ? { ...f, stepId: f.path[1] } : f));
};

/** The same key twice in one mapping: YAML parsers keep one silently, the loader reports them here. */
export const checkUniqueIds: Check = ({ source }) =>
  (source?.duplicateKeys ?? []).map((d) => {
    const key = String(d.path.at(-1));
    const parent = d.path.slice(0, -1);
    const what =
      parent.length === 1 && parent[0] === 'steps'
        ? `duplicate step id "${key}"`
        : parent.length === 1 && parent[0] === 'params'
          ? `duplicate param "${key}"`
          : `duplicate key "${key}"`;
    return {
      path: d.path,
      message: `${what} (first defined on line ${d.firstLine})`,
      line: d.line,
      column: d.column,
      ...(parent[0] === 'steps' && typeof d.path[1] === 'string' ? { stepId: d.path[1] } : {}),
    };
  });

function unknownTypeMessage(uses: string): string {
  const hint = didYouMean(uses, stepTypeNames());
  return `unknown step type "${uses}"${hint || `; known types: ${stepTypeNames().join(', ')}`}`;
}

/** Every `uses` names a registered step type. */
export const checkKnownStepTypes: Check = ({ raw }) =>
  stepEntries(raw).flatMap(([id, step]) =>
    typeof step.uses === 'string' && step.uses !== '' && !getStepType(step.uses)
      ? [{ path: ['steps', id, 'uses'], stepId: id, message: unknownTypeMessage(step.uses) }]
      : [],
  );

/** Every `needs` entry is a step of this pipeline, listed once. */
export const checkNeedsExist: Check = ({ raw }) => {
  const ids = stepIds(raw);
  return stepEntries(raw).flatMap(([id, step]) => {
    const seen = new Set<string>();
    return needEntries(step).flatMap((n): Finding[] => {
      const path = ['steps', id, ...n.path];
      if (seen.has(n.id)) return [{ path, stepId: id, message: `"${n.id}" is listed twice` }];
      seen.add(n.id);
      if (ids.includes(n.id)) return [];
      return [{ path, stepId: id, message: `unknown step "${n.id}"${didYouMean(n.id, ids)}` }];
    });
  });
};

/** One cycle through `needs` per group of steps that need each other, printed in run order. */
export const checkAcyclic: Check = ({ raw }) => {
  const dag = rawDag(raw);
  const ids = Object.keys(dag.steps);
  const needs = (id: string) => dag.steps[id].needs as string[];
  const findings: Finding[] = [];
  const reported = new Set<string>();
  for (const start of ids) {
    if (reported.has(start)) continue;
    if (needs(start).includes(start)) {
      reported.add(start);
      const i = (valueAt(raw, ['steps', start, 'needs']) as unknown[] | string) ?? [];
      const path = typeof i === 'string' ? ['steps', start, 'needs'] : ['steps', start, 'needs', i.indexOf(start)];
      findings.push({ path, stepId: start, message: `step "${start}" needs itself` });
      continue;
    }
    // Shortest path back to `start` through needs (breadth first), if any.
    const previous = new Map<string, string>();
    const queue = [...needs(start)];
    for (const n of queue) if (!previous.has(n)) previous.set(n, start);
    let closed = false;
    while (queue.length && !closed) {
      const id = queue.shift()!;
      if (id === start) {
        closed = true;
        break;
      }
      for (const n of needs(id)) {
        if (!previous.has(n)) {
          previous.set(n, id);
          queue.push(n);
        }
      }
    }
    if (!closed) continue;
    // Walking back from start: each step in the chain is needed by the next, i.e. the chain is in run order.
    const cycle = [start];
    for (let id = previous.get(start)!; id !== start; id = previous.get(id)!) cycle.push(id);
    if (cycle.some((id) => reported.has(id))) continue;
    cycle.forEach((id) => reported.add(id));
    cycle.push(start);
    findings.push({
      path: ['steps', start, 'needs'],
      stepId: start,
      message: `dependency cycle: ${cycle.join(' -> ')} (each step needs the one before it)`,
    });
  }
  return findings;
};

/**
 * An expression in step S may read `steps.T` only if T is upstream of S through needs (S itself only in its
 * `outputs` and `rollback`), and `item` only in the `with` of a forEach step. Pipeline outputs may read any step.
 */
export const checkReferencesUpstream: Check = ({ raw }) => {
  const ids = stepIds(raw);
  const dag = rawDag(raw);
  const upstream = new Map(ids.map((id) => [id, upstreamOf(dag, id)]));
  const findings: Finding[] = [];
  for (const field of templateFields(raw)) {
    const stepId = field.stepId;
    const forEach =
      stepId !== undefined &&
      isObject(valueAt(raw, ['steps', stepId])) &&
      valueAt(raw, ['steps', stepId, 'forEach']) !== undefined;
    for (const [path, s] of expressionStrings(field.value, field.path)) {
      const refs = findReferences(s);
      const add = (message: string) => findings.push({ path, ...withStep(stepId), message });
      for (const t of refs.steps) {
        if (!ids.includes(t)) {
          add(`unknown step "${t}"${didYouMean(t, ids)}`);
        } else if (stepId === undefined) {
          continue;
        } else if (t === stepId) {
          if (field.kind !== 'outputs' && field.kind !== 'rollback') {
            add(`step "${stepId}" cannot read its own outputs in ${field.kind} (they do not exist yet)`);
          }
        } else if (!upstream.get(stepId)!.has(t)) {
          add(`reads steps.${t} but "${t}" is not upstream of "${stepId}" (add it to needs)`);
        }
      }
      if (refs.usesItem && !(field.kind === 'with' && forEach)) {
        add(
          field.kind === 'with' || stepId === undefined
            ? '"item" is only defined in the with of a forEach step'
            : `"item" is only defined in with, not in ${field.kind === 'rollback' ? 'rollback' : field.kind}`,
        );
      }
    }
  }
  return findings;
};

/** Expressions read only declared params. */
export const checkParamsExist: Check = ({ raw }) => {
  const params = isObject(raw) && isObject(raw.params) ? Object.keys(raw.params) : [];
  return templateFields(raw).flatMap((field) =>
    expressionStrings(field.value, field.path).flatMap(([path, s]) =>
      [...findReferences(s).params]
        .filter((p) => !params.includes(p))
        .map((p) => ({
          path,
          ...withStep(field.stepId),
          message: `unknown param "${p}"${didYouMean(p, params) || (params.length ? '' : ' (the pipeline declares no params)')}`,
        })),
    ),
  );
};

/** Every `${{ }}` parses; syntax errors give the column inside the expression. */
export const checkExpressionsParse: Check = ({ raw }) =>
  templateFields(raw).flatMap((field) =>
    expressionStrings(field.value, field.path).flatMap(([path, s]): Finding[] => {
      try {
        parseTemplate(s);
        return [];
      } catch (err) {
        if (!(err instanceof ExpressionError)) throw err;
        return [{ path, ...withStep(field.stepId), message: err.message }];
      }
    }),
  );

/**
 * Durations that are each valid but do not fit together (each one's syntax is checked by the schema): a heartbeat
 * must be shorter than the timeout, and retry.maximumInterval no shorter than retry.initialInterval.
 */
export const checkDurations: Check = ({ raw }) => {
  const findings: Finding[] = [];
  const ms = (v: unknown) => (isDuration(v) ? parseDuration(v) : undefined);
  const policies = stepEntries(raw).flatMap(([id, step]) => {
    const list: [DefinitionPath, Obj, string][] = [[['steps', id], step, id]];
    if (isObject(step.rollback)) list.push([['steps', id, 'rollback'], step.rollback, id]);
    return list;
  });
  for (const [path, policy, stepId] of policies) {
    const timeout = ms(policy.timeout);
    const heartbeat = ms(policy.heartbeat);
    if (timeout !== undefined && heartbeat !== undefined && heartbeat >= timeout) {
      findings.push({
        path: [...path, 'heartbeat'],
        stepId,
        message: `heartbeat (${formatDuration(heartbeat)}) must be shorter than timeout (${formatDuration(timeout)})`,
      });
    }
    const retry = isObject(policy.retry) ? policy.retry : {};
    const initial = ms(retry.initialInterval);
    const maximum = ms(retry.maximumInterval);
    if (initial !== undefined && maximum !== undefined && maximum < initial) {
      findings.push({
        path: [...path, 'retry', 'maximumInterval'],
        stepId,
        message: `maximumInterval (${formatDuration(maximum)}) is shorter than initialInterval (${formatDuration(initial)})`,
      });
    }
  }
  return findings;
};

/** True when the value at `path` (or a value on the way there) holds an expression: only known at run time. */
function dependsOnExpression(root: unknown, path: DefinitionPath): boolean {
  let v = root;
  for (const p of path) {
    if (containsExpression(v)) return true;
    v = valueAt(v, [p]);
  }
  return hasExpressionDeep(v);
}

function withFindings(uses: unknown, input: unknown, base: DefinitionPath, stepId: string): Finding[] {
  const spec = typeof uses === 'string' ? getStepType(uses) : undefined;
  const value = input ?? {};
  if (!spec || !isObject(value)) return [];
  const result = spec.withSchema.safeParse(value);
  if (result.success) return [];
  return zodFindings(spec.withSchema, result.error.issues, value, {
    base,
    stepId,
    // `with` is checked again at run time, after expressions are resolved.
    skip: (issue, path) => issue.code !== 'unrecognized_keys' && dependsOnExpression(value, path),
  }).map((f) => (f.path.length === base.length && input === undefined ? { ...f, path: base.slice(0, -1) } : f));
}

/** The parts of `with` known before the run match the step type's schema (steps and rollbacks). */
export const checkWithSchemas: Check = ({ raw }) =>
  stepEntries(raw).flatMap(([id, step]) => [
    ...withFindings(step.uses, step.with, ['steps', id, 'with'], id),
    ...(isObject(step.rollback)
      ? withFindings(step.rollback.uses, step.rollback.with, ['steps', id, 'rollback', 'with'], id)
      : []),
  ]);

/** `uses: pipeline` names a pipeline that exists (when the caller knows which do). */
export const checkChildPipelines: Check = ({ raw, knownPipelines }) => {
  if (!knownPipelines) return [];
  return stepEntries(raw).flatMap(([id, step]) => {
    const name = isObject(step.with) ? step.with.pipeline : undefined;
    if (step.uses !== 'pipeline' || typeof name !== 'string' || containsExpression(name)) return [];
    if (knownPipelines.includes(name)) return [];
    return [
      {
        path: ['steps', id, 'with', 'pipeline'],
        stepId: id,
        message: `unknown pipeline "${name}"${didYouMean(name, knownPipelines)}`,
      },
    ];
  });
};

/** Each param's default, enum values and bounds fit its type. */
export const checkParamDefaults: Check = ({ raw }) => {
  const params = isObject(raw) && isObject(raw.params) ? raw.params : {};
  const findings: Finding[] = [];
  for (const [name, spec] of Object.entries(params)) {
    if (!isObject(spec) || !(PARAM_TYPES as readonly unknown[]).includes(spec.type)) continue;
    const p = spec as ParamSpec;
    const at = (key: string | number, ...rest: (string | number)[]): DefinitionPath => ['params', name, key, ...rest];
    const numeric = p.type === 'number' || p.type === 'integer';
    for (const bound of ['minimum', 'maximum'] as const) {
      if (p[bound] !== undefined && !numeric) {
        findings.push({ path: at(bound), message: `${bound} only applies to number and integer params`, at: 'key' });
      }
    }
    if (typeof p.minimum === 'number' && typeof p.maximum === 'number' && p.minimum > p.maximum) {
      findings.push({ path: at('minimum'), message: `minimum (${p.minimum}) is greater than maximum (${p.maximum})` });
    }
    if (Array.isArray(p.enum)) {
      p.enum.forEach((e, i) => {
        const problem = checkParamValue({ type: p.type }, e);
        if (problem) findings.push({ path: at('enum', i), message: problem });
      });
    }
    if (p.default !== undefined) {
      const problem = checkParamValue(
        { ...p, enum: Array.isArray(p.enum) ? p.enum : undefined, minimum: num(p.minimum), maximum: num(p.maximum) },
        p.default,
      );
      if (problem) findings.push({ path: at('default'), message: `default ${problem}` });
    }
  }
  return findings;
};

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

/** A rollback uses a known step type that runs as an activity, and has none of a step's scheduling keys. */
export const checkRollback: Check = ({ raw }) =>
  stepEntries(raw).flatMap(([id, step]): Finding[] => {
    const rb = step.rollback;
    if (!isObject(rb)) return [];
    const findings: Finding[] = Object.keys(rb)
      .filter((k) => Object.hasOwn(ROLLBACK_FORBIDDEN, k))
      .map((k) => ({ path: ['steps', id, 'rollback', k], stepId: id, message: ROLLBACK_FORBIDDEN[k], at: 'key' }));
    if (typeof rb.uses === 'string' && rb.uses !== '') {
      const spec = getStepType(rb.uses);
      const path = ['steps', id, 'rollback', 'uses'];
      if (!spec) findings.push({ path, stepId: id, message: unknownTypeMessage(rb.uses) });
      else if (spec.defaultQueue === 'workflow') {
        findings.push({
          path,
          stepId: id,
          message: `"${rb.uses}" cannot be a rollback: a rollback runs as an activity`,
        });
      }
    }
    return findings;
  });

/** `forEach` is a list or an expression giving one; `concurrency` goes with forEach. */
export const checkForEach: Check = ({ raw }) =>
  stepEntries(raw).flatMap(([id, step]): Finding[] => {
    const findings: Finding[] = [];
    if (typeof step.forEach === 'string' && !containsExpression(step.forEach)) {
      findings.push({
        path: ['steps', id, 'forEach'],
        stepId: id,
        message: 'forEach must be a list or a ${{ }} expression giving one',
      });
    }
    if (step.concurrency !== undefined && step.forEach === undefined) {
      findings.push({
        path: ['steps', id, 'concurrency'],
        stepId: id,
        message: 'concurrency only applies to forEach steps',
        at: 'key',
      });
    }
    return findings;
  });

/** `queue` and `resources` agree, and are not set on step types that run in the workflow. */
export const checkQueues: Check = ({ raw }) =>
  stepEntries(raw).flatMap(([id, step]): Finding[] => {
    const gpus = isObject(step.resources) && typeof step.resources.gpu === 'number' ? step.resources.gpu : 0;
    const spec = typeof step.uses === 'string' ? getStepType(step.uses) : undefined;
    if (spec?.defaultQueue === 'workflow') {
      return (['queue', 'resources'] as const)
        .filter((k) => step[k] !== undefined)
        .map((k) => ({
          path: ['steps', id, k],
          stepId: id,
          message: `"${String(step.uses)}" steps run in the workflow, not on a queue: remove ${k}`,
          at: 'key' as const,
        }));
    }
    if (step.queue === 'cpu' && gpus > 0) {
      return [
        {
          path: ['steps', id, 'queue'],
          stepId: id,
          message: `resources.gpu is ${gpus} but queue is cpu: use queue gpu`,
        },
      ];
    }
    return [];
  });

/** Every check, in the order their findings are listed when they have no line. */
export const ALL_CHECKS: readonly Check[] = [
  checkSchema,
  checkUniqueIds,
  checkKnownStepTypes,
  checkNeedsExist,
  checkAcyclic,
  checkReferencesUpstream,
  checkParamsExist,
  checkExpressionsParse,
  checkDurations,
  checkWithSchemas,
  checkChildPipelines,
  checkParamDefaults,
  checkRollback,
  checkForEach,
  checkQueues,
];
