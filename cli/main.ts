import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigInvalid } from '../config/env';
import { red, say } from './output';
import { WORKER_ROLES, type WorkerRole } from '../workers/create-workers';
import { EXIT } from './exit-codes';
import { runDev } from './dev';
import { runWorkerCommand } from './worker';
import { cancelCommand, decideCommand, runCommand, statusCommand } from './runs';
import { validateCommand } from './validate';
import { pipelineJsonSchema } from '../definitions/json-schema';
import { registerModelCommands } from './models';
import { registerApiCommands } from './api';
import { registerRunsListCommand } from './runs-list';
import { registerScheduleCommands } from './schedules';
import { registerReplayCommand } from './replay-command';
import { registerServeCommand } from './serve';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${name} must be a port number`);
  return n;
};

export function buildProgram(): Command {
  const program = new Command('mlpipe')
    .description('MLOps workflow engine: declarative ML pipelines run durably on Temporal')
    .showHelpAfterError()
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 failed (run failed, invalid definition), 2 usage error, 3 service unavailable.
Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, MLPIPE_S3_ENDPOINT, MLPIPE_S3_ACCESS_KEY, MLPIPE_S3_SECRET_KEY,
MLPIPE_S3_BUCKET, MLPIPE_HOME, ... (see README.md).`,
    );

  program
    .command('dev')
    .description('run everything on this machine: Temporal + Web UI (SQLite), MinIO, workers')
    .option('--temporal-port <port>', 'Temporal frontend gRPC port', int('--temporal-port'), 7233)
    .option('--temporal-http-port <port>', 'Temporal HTTP API port', int('--temporal-http-port'), 7243)
    .addOption(
      new Option('--ui-port <port>', 'Temporal Web UI port')
        .argParser(int('--ui-port'))
        .env('MLPIPE_UI_PORT')
        .default(8233),
    )
    .option('--minio-port <port>', 'MinIO S3 API port', int('--minio-port'), 9000)
    .option('--minio-console-port <port>', 'MinIO console port', int('--minio-console-port'), 9001)
    .option('--api-port <port>', 'mlpipe HTTP API port (runs, new-data webhook)', int('--api-port'), 8090)
    .addOption(
      new Option('--serve-port <port>', 'model serving port')
        .argParser(int('--serve-port'))
        .env('MLPIPE_SERVE_PORT')
        .default(8080),
    )
    .option('--no-workers', 'start only the services, no workers')
    .option(
      '--demo',
      'then run the lifecycle demo on the flights data: train, deploy, replay traffic, drift, retrain, rollback',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ mlpipe dev                         # build what is missing, start everything, Ctrl-C stops it
  $ mlpipe dev --demo                  # the same, then the whole model lifecycle on the flights data (npm start)
  $ TEMPORAL_ADDRESS=temporal:7233 mlpipe dev   # use an existing Temporal; only MinIO + workers start`,
    )
    .action(async (o) => {
      process.exitCode = await runDev({
        temporalPort: o.temporalPort,
        temporalHttpPort: o.temporalHttpPort,
        uiPort: o.uiPort,
        minioPort: o.minioPort,
        minioConsolePort: o.minioConsolePort,
        apiPort: o.apiPort,
        servePort: o.servePort,
        workers: o.workers,
        demo: Boolean(o.demo),
      });
    });

  program
    .command('worker')
    .description('run activity or workflow workers (production: one role per process, scaled separately)')
    .addOption(
      new Option('--role <role...>', 'orchestrator (workflows), cpu or gpu activities')
        .choices([...WORKER_ROLES, 'all'])
        .makeOptionMandatory(),
    )
    .option('--cpu-fallback', 'let the GPU worker run GPU steps without a GPU', false)
    .option('--sync-schedules', 'make Temporal Schedules match the pipeline definitions before polling', false)
    .addHelpText(
      'after',
      `
Examples:
  $ mlpipe worker --role orchestrator
  $ mlpipe worker --role cpu
  $ CUDA_VISIBLE_DEVICES=0,1 mlpipe worker --role gpu`,
    )
    .action(async (o: { role: string[]; cpuFallback: boolean; syncSchedules: boolean }) => {
      const roles = o.role.includes('all') ? [...WORKER_ROLES] : (o.role as WorkerRole[]);
      process.exitCode = await runWorkerCommand({ roles, cpuFallback: o.cpuFallback, syncSchedules: o.syncSchedules });
    });

  program
    .command('run')
    .description('start a pipeline run by name or from a definition file')
    .argument('<pipeline>', 'pipeline name (known to the workers) or a .yaml/.json/.ts file')
    .option('-p, --param <key=value>', 'a run parameter (repeatable)', collect, [])
    .option('-w, --wait', 'wait for the run, showing live step progress; exit 1 if it fails', false)
    .option('--json', 'machine-readable output on stdout', false)
    .option('--idempotency-key <key>', 'the same key twice starts one run')
    .addHelpText(
      'after',
      `
Examples:
  $ mlpipe run hello --wait
  $ mlpipe run ./pipelines/train.yaml -p minAuc=0.75 --wait --json`,
    )
    .action(async (target: string, o) => {
      process.exitCode = await runCommand(target, o);
    });

  program
    .command('status')
    .description('show the per-step status of a run')
    .argument('<run-id>')
    .option('--json', 'machine-readable output', false)
    .action(async (runId: string, o) => {
      process.exitCode = await statusCommand(runId, o);
    });

  program
    .command('cancel')
    .description('cancel a run; completed steps are rolled back in reverse order')
    .argument('<run-id>')
    .option('--json', 'machine-readable output', false)
    .action(async (runId: string, o: { json: boolean }) => {
      process.exitCode = await cancelCommand(runId, o);
    });

  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .description(`${decision} an approval step of a run`)
      .argument('<run-id>')
      .argument('<step>', 'id of the approval step')
      .option('-m, --comment <text>', 'why')
      .option('--by <name>', 'who decides (default: $USER)')
      .option('--json', 'machine-readable output', false)
      .addHelpText('after', `\nExample:\n  $ mlpipe ${decision} flights-delay-20261127-ab12cd gate -m "looks good"`)
      .action(async (runId: string, step: string, o) => {
        process.exitCode = await decideCommand(decision, runId, step, o);
      });
  }

  program
    .command('validate')
    .description('check pipeline definitions; every problem with file:line, exit 1 on any')
    .argument('<files...>')
    .option('--json', 'machine-readable output', false)
    .addHelpText('after', '\nExample:\n  $ mlpipe validate definitions/pipelines/*.yaml')
    .action(async (files: string[], o) => {
      process.exitCode = await validateCommand(files, o);
    });

  program
    .command('schema')
    .description('print the JSON Schema of pipeline definitions (for editor completion)')
    .addHelpText('after', '\nExample:\n  $ mlpipe schema > pipeline.schema.json')
    .action(async () => {
      process.stdout.write(`${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`);
    });

  registerModelCommands(program);
  registerApiCommands(program);
  registerRunsListCommand(program);
  registerScheduleCommands(program);
  registerReplayCommand(program);
  registerServeCommand(program);

  return program;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigInvalid) {
      say(red(err.message));
      process.exitCode = EXIT.usage;
      return;
    }
    say(red((err as Error).message));
    process.exitCode = EXIT.failed;
  }
}

if (require.main === module) void main();
