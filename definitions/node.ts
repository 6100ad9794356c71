// The pipeline language with its file loader and JSON Schema writer: for workers, the CLI and tests, never for
// workflow code.
export * from './index';
export * from './load';
export * from './json-schema';
