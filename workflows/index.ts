// The workflow bundle's entry: every workflow type mlpipe registers.
export { smoke } from './smoke';
