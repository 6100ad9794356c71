import { describe, expect, it } from 'vitest';
import {
  blockedSteps,
  dependantsOf,
  needsOf,
  readySteps,
  stepQueue,
  topologicalOrder,
  upstreamOf,
  type Dag,
  type StepState,
} from './plan';

// The DAG shapes every behaviour is tried on.
const linear: Dag = { steps: { a: {}, b: { needs: 'a' }, c: { needs: ['b'] } } };
const diamond: Dag = {
  steps: { top: {}, left: { needs: ['top'] }, right: { needs: ['top'] }, bottom: { needs: ['left', 'right'] } },
};
const fanOut: Dag = { steps: { root: {}, x: { needs: 'root' }, y: { needs: 'root' }, z: { needs: 'root' }, lone: {} } };

describe('order and reach', () => {
  it('topologicalOrder keeps definition order among equals', () => {
    expect(topologicalOrder(linear)).toEqual(['a', 'b', 'c']);
    expect(topologicalOrder(diamond)).toEqual(['top', 'left', 'right', 'bottom']);
    expect(topologicalOrder(fanOut)).toEqual(['root', 'x', 'y', 'z', 'lone']);
    expect(topologicalOrder({ steps: { late: { needs: 'early' }, early: {} } })).toEqual(['early', 'late']);
  });

  it('topologicalOrder refuses cycles', () => {
    expect(() => topologicalOrder({ steps: { a: { needs: 'b' }, b: { needs: 'a' }, c: {} } })).toThrow(
      'steps form a cycle: a, b',
    );
  });

  it('upstreamOf and dependantsOf are transitive', () => {
    expect([...upstreamOf(linear, 'c')].sort()).toEqual(['a', 'b']);
    expect([...upstreamOf(diamond, 'bottom')].sort()).toEqual(['left', 'right', 'top']);
    expect([...upstreamOf(diamond, 'top')]).toEqual([]);
    expect([...dependantsOf(linear, 'a')].sort()).toEqual(['b', 'c']);
    expect([...dependantsOf(diamond, 'left')]).toEqual(['bottom']);
    expect([...dependantsOf(fanOut, 'root')].sort()).toEqual(['x', 'y', 'z']);
    expect(needsOf(linear, 'b')).toEqual(['a']);
    expect(needsOf(linear, 'toString')).toEqual([]);
  });
});

describe('readySteps and blockedSteps', () => {
  const s = (states: Record<string, StepState>) => states;

  it('linear: one at a time', () => {
    expect(readySteps(linear, {})).toEqual(['a']);
    expect(readySteps(linear, s({ a: 'running' }))).toEqual([]);
    expect(readySteps(linear, s({ a: 'succeeded' }))).toEqual(['b']);
    expect(readySteps(linear, s({ a: 'succeeded', b: 'cached' }))).toEqual(['c']);
    expect(blockedSteps(linear, s({ a: 'failed' }))).toEqual(['b']);
    expect(blockedSteps(linear, s({ a: 'succeeded', b: 'skipped' }))).toEqual(['c']);
  });

  it('diamond: the join waits for both sides', () => {
    expect(readySteps(diamond, s({ top: 'succeeded' }))).toEqual(['left', 'right']);
    expect(readySteps(diamond, s({ top: 'succeeded', left: 'succeeded', right: 'running' }))).toEqual([]);
    expect(readySteps(diamond, s({ top: 'succeeded', left: 'succeeded', right: 'succeeded' }))).toEqual(['bottom']);
    expect(blockedSteps(diamond, s({ top: 'succeeded', left: 'succeeded', right: 'skipped' }))).toEqual(['bottom']);
    expect(readySteps(diamond, s({ top: 'succeeded', left: 'succeeded', right: 'skipped' }))).toEqual([]);
  });

  it('fan-out: everything independent starts together', () => {
    expect(readySteps(fanOut, {})).toEqual(['root', 'lone']);
    expect(readySteps(fanOut, s({ root: 'cached', lone: 'running' }))).toEqual(['x', 'y', 'z']);
    expect(blockedSteps(fanOut, s({ root: 'cancelled' }))).toEqual(['x', 'y', 'z']);
    expect(blockedSteps(fanOut, s({ root: 'rolledBack', x: 'skipped' }))).toEqual(['y', 'z']);
  });
});

describe('stepQueue', () => {
  it('follows resources, then queue, then the step type', () => {
    expect(stepQueue({ uses: 'command' })).toBe('cpu');
    expect(stepQueue({ uses: 'command', queue: 'gpu' })).toBe('gpu');
    expect(stepQueue({ uses: 'command', resources: { gpu: 1 } })).toBe('gpu');
    expect(stepQueue({ uses: 'command', resources: { gpu: 0 } })).toBe('cpu');
    expect(stepQueue({ uses: 'approval' })).toBe('workflow');
    expect(stepQueue({ uses: 'pipeline' })).toBe('workflow');
    expect(stepQueue({ uses: 'not-registered' })).toBe('cpu');
  });
});
