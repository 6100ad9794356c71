/** Default task queue names (DESIGN.md). Workers may be configured with others; workflows receive them in input. */
export const queues = {
  workflows: 'mlpipe',
  cpu: 'mlpipe-cpu',
  gpu: 'mlpipe-gpu',
} as const;
