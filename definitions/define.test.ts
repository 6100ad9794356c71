import { describe, expectTypeOf, it, expect } from 'vitest';
import { definePipeline, type PipelineParams, type ResolvedPipelineParams } from './define';
import tsPipeline from './fixtures/ts-pipeline';
import { validateDefinition } from './validate';

describe('definePipeline', () => {
  it('returns its argument and infers params', () => {
    const def = definePipeline({
      name: 'typed',
      params: {
        window: { type: 'string', enum: ['jan', 'feb'] },
        minAuc: { type: 'number', default: 0.7 },
        tags: { type: 'array', default: [] },
        dry: { type: 'boolean' },
      },
      steps: { a: { uses: 'echo', needs: [], with: { w: '${{ params.window }}' } } },
    });
    expect(validateDefinition(def).ok).toBe(true);
    expectTypeOf<PipelineParams<typeof def>>().toEqualTypeOf<{
      window: 'jan' | 'feb';
      dry: boolean;
      minAuc?: number;
      tags?: unknown[];
    }>();
    expectTypeOf<ResolvedPipelineParams<typeof def>>().toEqualTypeOf<{
      window: 'jan' | 'feb';
      minAuc: number;
      tags: unknown[];
      dry: boolean;
    }>();
    expectTypeOf<PipelineParams<typeof tsPipeline>>().toEqualTypeOf<{
      window: 'jan' | 'feb';
      minAuc?: number;
      rows?: number;
    }>();
    expectTypeOf<PipelineParams<{ name: 'x'; steps: { a: { uses: 'echo' } } }>>().toEqualTypeOf<Record<never, never>>();
  });

  it('rejects what the language does not allow, at compile time', () => {
    definePipeline({
      name: 'x',
      // @ts-expect-error: `need` is not a step key
      steps: { a: { uses: 'echo', need: ['b'] } },
    });
    definePipeline({
      name: 'x',
      // @ts-expect-error: queue is cpu or gpu
      steps: { a: { uses: 'echo', queue: 'tpu' } },
    });
  });
});
