import type { Command } from 'commander';
import { ConfigInvalid } from '../config/env';
import { ModelsClient } from '../client/models';
import { StoreUnavailable } from '../storage/artifact-store';
import { RegistryErrorTypes, type AliasChange, type ModelVersion } from '../storage/registry';
import { EXIT } from './exit-codes';
import { bold, dim, green, red, say, yellow } from './output';

/** What the `models` commands use; tests pass their own. */
export interface ModelsCommandDeps {
  /** @default a client on the bucket that MLPIPE_S3_* names */
  models?: () => ModelsClient;
  /** Machine-readable and table output. @default process.stdout */
  write?: (text: string) => void;
}

interface Io {
  models: () => ModelsClient;
  write: (text: string) => void;
}

const io = (deps: ModelsCommandDeps): Io => ({
  models: deps.models ?? (() => ModelsClient.fromConfig()),
  write: deps.write ?? ((t) => process.stdout.write(t)),
});

/**
 * Adds `mlpipe models list|show|promote|history` to a program.
 *
 * @example
 * registerModelCommands(program); // in buildProgram(), beside run/status/...
 */
export function registerModelCommands(program: Command, deps: ModelsCommandDeps = {}): Command {
  const models = program
    .command('models')
    .description('the model registry: versions, aliases (production, candidate, ...) and their history')
    .addHelpText(
      'after',
      `
Examples:
  $ mlpipe models list
  $ mlpipe models show flights-delay --version 3 --json
  $ mlpipe models promote flights-delay 3 --reason "auc 0.74 beats v2"
  $ mlpipe models history flights-delay --alias production`,
    );

  models
    .command('list')
    .description('every model with its latest version and aliases')
    .option('--json', 'machine-readable output', false)
    .addHelpText('after', '\nExamples:\n  $ mlpipe models list\n  $ mlpipe models list --json | jq -r ".[].name"')
    .action(async (o: { json: boolean }) => {
      process.exitCode = await modelsListCommand(o, deps);
    });

  models
    .command('show')
    .description("a model's versions and aliases, or one version's ONNX file, card and lineage")
    .argument('<name>')
    .option('--version <n>', 'show this version only')
    .option('--json', 'machine-readable output', false)
    .addHelpText(
      'after',
      '\nExamples:\n  $ mlpipe models show flights-delay\n  $ mlpipe models show flights-delay --version 3 --json',
    )
    .action(async (name: string, o: { version?: string; json: boolean }) => {
      process.exitCode = await modelsShowCommand(name, o, deps);
    });

  models
    .command('promote')
    .description('point an alias at a version (a conditional write: a concurrent promotion makes this one fail)')
    .argument('<name>')
    .argument('<version>')
    .option('--alias <alias>', 'alias to move', 'production')
    .option('--reason <text>', 'why, recorded in the history')
    .option('--expect <version>', 'only if the alias points at this version now ("none": only if it is not set)')
    .option('--by <name>', 'who promotes (default: $USER)')
    .option('--json', 'machine-readable output', false)
    .addHelpText(
      'after',
      `
Examples:
  $ mlpipe models promote flights-delay 3 --reason "auc 0.74 beats v2"
  $ mlpipe models promote flights-delay 4 --alias candidate
  $ mlpipe models promote flights-delay 2 --expect 3 --reason "roll back: drift on v3"
Exit 1 when the alias moved meanwhile (AliasConflict) or the version does not exist.`,
    )
    .action(async (name: string, version: string, o: PromoteFlags) => {
      process.exitCode = await modelsPromoteCommand(name, version, o, deps);
    });

  models
    .command('history')
    .description('every alias change of a model: from, to, when, which run, why')
    .argument('<name>')
    .option('--alias <alias>', 'one alias only')
    .option('--json', 'machine-readable output', false)
    .addHelpText(
      'after',
      '\nExamples:\n  $ mlpipe models history flights-delay\n  $ mlpipe models history flights-delay --alias production --json',
    )
    .action(async (name: string, o: { alias?: string; json: boolean }) => {
      process.exitCode = await modelsHistoryCommand(name, o, deps);
    });

  return models;
}

/** `mlpipe models list` */
export async function modelsListCommand(opts: { json: boolean }, deps: ModelsCommandDeps = {}): Promise<number> {
  const { models, write } = io(deps);
  return guard(opts.json, write, async () => {
    const list = await models().list();
    if (opts.json) return json(write, list);
    if (!list.length) say(dim('no models registered yet'));
    else {
      const rows = list.map((m) => [m.name, String(m.versions), `v${m.latest}`, aliasList(m.aliases)]);
      write(table(['NAME', 'VERSIONS', 'LATEST', 'ALIASES'], rows));
    }
    return EXIT.ok;
  });
}

/** `mlpipe models show <name> [--version N]` */
export async function modelsShowCommand(
  name: string,
  opts: { version?: string; json: boolean },
  deps: ModelsCommandDeps = {},
): Promise<number> {
  const { models, write } = io(deps);
  return guard(opts.json, write, async () => {
    if (opts.version !== undefined) {
      const n = parseVersion(opts.version, '--version');
      if (n === undefined) return EXIT.usage;
      const v = await models().version(name, n);
      if (opts.json) return json(write, v);
      write(renderVersion(v));
      return EXIT.ok;
    }
    const details = await models().show(name);
    if (opts.json) return json(write, details);
    const aliasesOf = (v: number) => details.aliases.filter((a) => a.version === v).map((a) => a.alias);
    const rows = details.versions.map((v) => [
      `v${v.version}`,
      v.createdAt,
      `${v.runId} / ${v.stepId}`,
      v.onnx.sha256.slice(0, 12),
      aliasesOf(v.version).join(', '),
    ]);
    say(bold(`model ${name}`));
    write(table(['VERSION', 'CREATED', 'RUN / STEP', 'SHA256', 'ALIASES'], rows));
    return EXIT.ok;
  });
}

interface PromoteFlags {
  alias: string;
  reason?: string;
  expect?: string;
  by?: string;
  json: boolean;
}

/** `mlpipe models promote <name> <version>` */
export async function modelsPromoteCommand(
  name: string,
  version: string,
  opts: PromoteFlags,
  deps: ModelsCommandDeps = {},
): Promise<number> {
  const { models, write } = io(deps);
  return guard(opts.json, write, async () => {
    const n = parseVersion(version, '<version>');
    if (n === undefined) return EXIT.usage;
    let expectedVersion: number | null | undefined;
    if (opts.expect !== undefined) {
      expectedVersion = opts.expect === 'none' ? null : parseVersion(opts.expect, '--expect');
      if (expectedVersion === undefined) return EXIT.usage;
    }
    const update = await models().promote(name, n, {
      alias: opts.alias,
      reason: opts.reason,
      by: opts.by ?? process.env.USER ?? 'cli',
      expectedVersion,
    });
    if (opts.json) return json(write, update);
    const { change } = update;
    if (!update.changed) say(yellow(`${name}: ${change.alias} already points at v${n}; nothing changed`));
    else say(green(`${name}: ${change.alias} ${change.from ? `v${change.from}` : '(not set)'} → v${n}`));
    return EXIT.ok;
  });
}

/** `mlpipe models history <name>` */
export async function modelsHistoryCommand(
  name: string,
  opts: { alias?: string; json: boolean },
  deps: ModelsCommandDeps = {},
): Promise<number> {
  const { models, write } = io(deps);
  return guard(opts.json, write, async () => {
    const changes = await models().history(name, { alias: opts.alias });
    if (opts.json) return json(write, changes);
    if (!changes.length) say(dim(`no alias of ${name} was ever set`));
    else write(table(['AT', 'ALIAS', 'FROM', 'TO', 'RUN', 'BY', 'REASON'], changes.map(historyRow)));
    return EXIT.ok;
  });
}

const historyRow = (c: AliasChange) => [
  c.at,
  c.alias,
  c.from ? `v${c.from}` : '-',
  c.to ? `v${c.to}` : '(removed)',
  c.runId ?? '-',
  c.by ?? '-',
  c.reason ?? '',
];

function renderVersion(v: ModelVersion): string {
  const lines = [
    `${v.name} v${v.version}`,
    `  created  ${v.createdAt}`,
    `  run      ${v.runId} / step ${v.stepId}`,
    `  onnx     ${v.onnx.uri}`,
    `  sha256   ${v.onnx.sha256}`,
    `  card     ${JSON.stringify(v.card, null, 2).replace(/\n/g, '\n  ')}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Maps the registry's error contract onto exit codes; with `--json`, the error also goes to stdout. */
async function guard(asJson: boolean, write: Io['write'], fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    const e = err as Error;
    const code =
      e instanceof StoreUnavailable
        ? EXIT.unavailable
        : e instanceof ConfigInvalid || e.name === RegistryErrorTypes.RegistryInputInvalid
          ? EXIT.usage
          : EXIT.failed;
    say(red(e.message));
    if (asJson) write(`${JSON.stringify({ error: { type: e.name, message: e.message } })}\n`);
    return code;
  }
}

function parseVersion(text: string, what: string): number | undefined {
  const n = Number(text.replace(/^v/, ''));
  if (Number.isInteger(n) && n > 0) return n;
  say(red(`${what} must be a version number (1, 2, 3... or v3), got "${text}"`));
  return undefined;
}

function json(write: Io['write'], value: unknown): number {
  write(`${JSON.stringify(value, null, 2)}\n`);
  return EXIT.ok;
}

const aliasList = (aliases: Record<string, number>) =>
  Object.entries(aliases)
    .map(([a, v]) => `${a}=v${v}`)
    .join(' ');

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
