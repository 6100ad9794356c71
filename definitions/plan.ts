import { getStepType, type StepQueue } from './step-types';

/** Where a step is in a run. */
export type StepState =
  'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cached' | 'rolledBack' | 'cancelled';

/** States that let the steps needing this one start. */
export const SUCCESS_STATES: readonly StepState[] = ['succeeded', 'cached'];
/** States after which the steps needing this one can never start: they are skipped. */
export const BLOCKING_STATES: readonly StepState[] = ['failed', 'skipped', 'cancelled', 'rolledBack'];

/** The least a plan needs of a definition: steps and what each needs (one id or a list). */
export interface Dag {
  steps: Record<string, { needs?: string | readonly string[] }>;
}

const hasStep = (def: Dag, id: string) => Object.hasOwn(def.steps, id);

/** What a step needs, as a list. */
export function needsOf(def: Dag, stepId: string): string[] {
  const needs = hasStep(def, stepId) ? def.steps[stepId].needs : undefined;
  return needs === undefined ? [] : typeof needs === 'string' ? [needs] : [...needs];
}

/**
 * Step ids so that every step comes after the steps it needs; ties keep the order of the definition.
 *
 * @throws Error naming the steps of a cycle, if there is one (validation reports cycles first).
 */
export function topologicalOrder(def: Dag): string[] {
  const ids = Object.keys(def.steps);
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < ids.length) {
    const next = ids.find((id) => !done.has(id) && needsOf(def, id).every((n) => done.has(n) || !hasStep(def, n)));
    if (next === undefined) {
      throw new Error(`steps form a cycle: ${ids.filter((id) => !done.has(id)).join(', ')}`);
    }
    done.add(next);
    order.push(next);
  }
  return order;
}

function closure(start: string, edges: (id: string) => string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...edges(start)];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...edges(id));
  }
  seen.delete(start);
  return seen;
}

/** Every step that `stepId` needs, directly or through others. */
export function upstreamOf(def: Dag, stepId: string): Set<string> {
  return closure(stepId, (id) => needsOf(def, id).filter((n) => hasStep(def, n)));
}

/** Every step that needs `stepId`, directly or through others. */
export function dependantsOf(def: Dag, stepId: string): Set<string> {
  const ids = Object.keys(def.steps);
  return closure(stepId, (id) => ids.filter((other) => needsOf(def, other).includes(id)));
}

const stateOf = (states: Record<string, StepState | undefined>, id: string): StepState => states[id] ?? 'pending';

/** Pending steps whose needs all succeeded (or were cached): start them. In definition order. */
export function readySteps(def: Dag, states: Record<string, StepState | undefined>): string[] {
  return Object.keys(def.steps).filter(
    (id) =>
      stateOf(states, id) === 'pending' && needsOf(def, id).every((n) => SUCCESS_STATES.includes(stateOf(states, n))),
  );
}

/** Pending steps one of whose needs failed, was skipped, cancelled or rolled back: skip them. */
export function blockedSteps(def: Dag, states: Record<string, StepState | undefined>): string[] {
  return Object.keys(def.steps).filter(
    (id) =>
      stateOf(states, id) === 'pending' && needsOf(def, id).some((n) => BLOCKING_STATES.includes(stateOf(states, n))),
  );
}

/**
 * Where a step runs: `resources.gpu > 0` or `queue: gpu` means the GPU queue, `queue: cpu` the CPU queue, and
 * otherwise its type's default (approval and pipeline run in the workflow itself).
 */
export function stepQueue(step: { uses: string; queue?: 'cpu' | 'gpu'; resources?: { gpu?: number } }): StepQueue {
  const defaultQueue = getStepType(step.uses)?.defaultQueue ?? 'cpu';
  if (defaultQueue === 'workflow') return 'workflow';
  if ((step.resources?.gpu ?? 0) > 0) return 'gpu';
  return step.queue ?? defaultQueue;
}
