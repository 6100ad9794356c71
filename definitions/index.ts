// The pipeline language, without I/O: safe to import from workflow code (Temporal's deterministic sandbox).
// The file loader is in ./node.
export * from './schema';
export * from './duration';
export * from './expressions';
export * from './template';
export * from './params';
export * from './plan';
export * from './step-types';
import './ml-step-types';
export * from './issues';
export * from './checks';
export * from './validate';
export * from './define';
export { suggest, didYouMean } from './suggest';
