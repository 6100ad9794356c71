import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { getStepType, parseStepInput, registerStepType, STEP_TYPES, stepTypeNames } from './step-types';

describe('step types', () => {
  it('has the built-ins, and no prototype names', () => {
    expect(stepTypeNames()).toEqual(
      expect.arrayContaining(['approval', 'command', 'echo', 'fail', 'pipeline', 'sleep']),
    );
    expect(getStepType('constructor')).toBeUndefined();
    expect(getStepType('toString')).toBeUndefined();
  });

  it('registers new types with dotted names', () => {
    const spec = {
      description: 'test trainer',
      withSchema: z.object({ dataset: z.string() }).strict(),
      defaultQueue: 'gpu' as const,
    };
    registerStepType('test.train-gbdt', spec);
    registerStepType('test.train-gbdt', spec); // the same spec again is fine (module loaded twice)
    expect(getStepType('test.train-gbdt')).toBe(spec);
    expect(() => registerStepType('test.train-gbdt', { ...spec })).toThrow(
      'step type "test.train-gbdt" is already registered',
    );
    expect(() => registerStepType('Train..x', spec)).toThrow('invalid step type name "Train..x"');
    delete STEP_TYPES['test.train-gbdt'];
  });

  it('parseStepInput checks resolved inputs', () => {
    expect(parseStepInput('command', { run: ['echo', 'hi'] })).toEqual({ ok: true, value: { run: ['echo', 'hi'] } });
    expect(parseStepInput('command', { run: ['echo', 3], shell: true })).toEqual({
      ok: false,
      issues: ['with.run[1]: expected string, got 3', 'with.shell: unknown key "shell"'],
    });
    expect(parseStepInput('sleep', { duration: '5 parsecs' })).toEqual({
      ok: false,
      issues: [
        'with.duration: invalid duration "5 parsecs": expected a number and a unit (ms, s, m, h, d) such as "500ms", "2s" or "1h30m"',
      ],
    });
    expect(parseStepInput('sleep', {})).toEqual({ ok: false, issues: ['with: missing required key "duration"'] });
    expect(parseStepInput('nope', {})).toEqual({ ok: false, issues: ['unknown step type "nope"'] });
    expect(parseStepInput('echo', undefined)).toEqual({ ok: true, value: {} });
  });
});
