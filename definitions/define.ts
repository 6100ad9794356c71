import type { PipelineDefinition } from './schema';

/** A type with every level readonly, so `as const`-style literals (readonly tuples) are accepted. */
type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** A pipeline definition written in TypeScript: the authored form, readonly at every level. */
export type AuthoredPipeline = DeepReadonly<PipelineDefinition>;

type Simplify<T> = T extends infer O ? { [K in keyof O]: O[K] } : never;

type ParamValue<S> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S extends { readonly type: 'number' | 'integer' }
    ? number
    : S extends { readonly type: 'string' }
      ? string
      : S extends { readonly type: 'boolean' }
        ? boolean
        : S extends { readonly type: 'array' }
          ? unknown[]
          : S extends { readonly type: 'object' }
            ? Record<string, unknown>
            : unknown;

type NoParams = Record<never, never>;
type ParamsOf<P> = P extends { readonly params?: infer R } ? (R extends object ? R : NoParams) : NoParams;
type WithDefault<R> = { [K in keyof R]: R[K] extends { readonly default: unknown } ? K : never }[keyof R];

/**
 * The params a run of a pipeline takes: those without a default are required, the rest optional.
 *
 * @example
 * type P = PipelineParams<typeof train>; // { window: 'jan' | 'feb'; minAuc?: number }
 */
export type PipelineParams<P> = Simplify<
  { [K in Exclude<keyof ParamsOf<P>, WithDefault<ParamsOf<P>>>]: ParamValue<ParamsOf<P>[K]> } & {
    [K in WithDefault<ParamsOf<P>>]?: ParamValue<ParamsOf<P>[K]>;
  }
>;

/** The params a pipeline's steps see: every param present, defaults applied. */
export type ResolvedPipelineParams<P> = Simplify<{ -readonly [K in keyof ParamsOf<P>]-?: ParamValue<ParamsOf<P>[K]> }>;

// Generic parameters escape excess-property checks, so unknown keys are mapped to `never` by hand: `need: [...]`
// in a step is a compile error, as it is a validation error.
type KeysOf<S> = S extends readonly unknown[] ? never : S extends object ? keyof S : never;
type ValueAt<S, K> = S extends readonly unknown[]
  ? never
  : S extends object
    ? K extends keyof S
      ? S[K]
      : never
    : never;
type Exact<T, Shape> = unknown extends Shape
  ? T
  : T extends readonly unknown[]
    ? T
    : T extends object
      ? { [K in keyof T]: K extends KeysOf<NonNullable<Shape>> ? Exact<T[K], ValueAt<NonNullable<Shape>, K>> : never }
      : T;

/**
 * Declares a pipeline in TypeScript. It returns its argument unchanged; its use is the types: editors complete and
 * check the definition, and {@link PipelineParams} infers the params of a run from it. Export it as the module's
 * default (or as `pipeline`) and the loader validates it like a YAML file.
 *
 * @example
 * import { definePipeline, type PipelineParams } from 'mlpipe/definitions';
 *
 * export default definePipeline({
 *   name: 'nightly',
 *   params: {
 *     window: { type: 'string', enum: ['jan', 'feb'] },
 *     minAuc: { type: 'number', default: 0.7 },
 *   },
 *   steps: {
 *     train: { uses: 'command', with: { run: ['python3', 'train.py', '${{ params.window }}'] } },
 *   },
 * });
 *
 * type NightlyParams = PipelineParams<typeof import('./nightly').default>; // { window: 'jan' | 'feb'; minAuc?: number }
 */
export function definePipeline<const P extends AuthoredPipeline>(definition: P & Exact<P, AuthoredPipeline>): P {
  return definition;
}
