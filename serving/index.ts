export { startServing, stderrLogger, type ServingInstance, type ServingOptions } from './service';
export { smokeTest, SmokeTestFailed, type SmokeTestOptions, type SmokeTestResult } from './smoke-test';
export type { ServingLogger } from './model-host';
export { RequestError } from './validation';
