// The workflow bundle's entry: every workflow type mlpipe registers.
export { pipeline, forEachBatch } from './pipeline';
export { smoke } from './smoke';
export { monitor } from './monitor';
