// Cron and interval schedules of pipelines (the `schedule:` field) as Temporal Schedules.
export * from './spec';
export * from './sync';
export * from './list';
export * from './definitions';
