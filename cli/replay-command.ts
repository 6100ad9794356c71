import { InvalidArgumentError, type Command } from 'commander';
import { EXIT } from './exit-codes';
import { dim, green, red, say } from './output';
import { replayFlights } from './replay';

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};
const isoDay = (name: string) => (v: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)))
    throw new InvalidArgumentError(`${name} must be a date like 2001-02-01`);
  return v;
};

/** `mlpipe replay`: real flights as live traffic against a serving instance, labels arriving late. */
export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('send real flights (vega-datasets) to serving as live traffic, with late ground-truth labels')
    .option('--url <url>', 'serving base URL', 'http://127.0.0.1:8080')
    .option('--model <name>', 'model name', 'flights-delay')
    .option('--from <day>', 'first departure day (inclusive)', isoDay('--from'), '2001-02-01')
    .option('--to <day>', 'last departure day (exclusive)', isoDay('--to'), '2001-07-01')
    .option('--rate <n>', 'requests per second, evenly spaced', positive('--rate'), 200)
    .option('--sample-every <n>', 'send one flight in N', positive('--sample-every'), 40)
    .option('--label-delay <hours>', 'simulated hours until a flight’s label arrives', positive('--label-delay'), 24)
    .action(async (o) => {
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      const end = await replayFlights({
        servingUrl: o.url,
        model: o.model,
        from: o.from,
        to: o.to,
        rate: o.rate,
        sampleEvery: Math.round(o.sampleEvery),
        labelDelayHours: o.labelDelay,
        signal: abort.signal,
        onProgress: (p) =>
          say(
            dim(
              `${new Date(p.simTime).toISOString().slice(0, 16)}  sent ${p.sent}  failed ${p.failed}  labels ${p.labelsSent}  ` +
                Object.entries(p.versions)
                  .map(([v, n]) => `v${v}:${n}`)
                  .join(' '),
            ),
          ),
      });
      say(
        end.failed ? red(`${end.failed} of ${end.sent} requests failed`) : green(`${end.sent} requests, none failed`),
      );
      process.exitCode = end.failed ? EXIT.failed : EXIT.ok;
    });
}
