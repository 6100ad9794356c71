import { describe, expect, it } from 'vitest';
import { formatIssue, formatIssues } from './issues';
import { loadDefinitionText } from './load';
import { validateDefinition } from './validate';

/** Validates YAML text as file p.yaml; returns the issues as printed. */
function problems(yaml: string, options: { knownPipelines?: string[] } = {}): string[] {
  const result = loadDefinitionText(yaml, { file: 'p.yaml', ...options });
  return result.ok ? [] : result.issues.map(formatIssue);
}

const yaml = (lines: string[]) => `${lines.join('\n')}\n`;

describe('broken definitions: each problem with its message and file:line:col', () => {
  it.each<[string, string[], string[]]>([
    [
      'unknown key, with did-you-mean',
      ['name: p', 'steps:', '  prepare: { uses: echo }', '  train:', '    uses: echo', '    need: [prepare]'],
      ['p.yaml:6:5  steps.train.need: unknown key "need" (did you mean "needs"?)'],
    ],
    [
      'unknown top-level key and missing steps',
      ['name: p', 'stpes:', '  a: { uses: echo }'],
      ['p.yaml:1:1  missing required key "steps"', 'p.yaml:2:1  stpes: unknown key "stpes" (did you mean "steps"?)'],
    ],
    [
      'needs an unknown step',
      ['name: p', 'steps:', '  prepare: { uses: echo }', '  train: { uses: echo, needs: [prep] }'],
      ['p.yaml:4:32  steps.train.needs[0]: unknown step "prep" (did you mean "prepare"?)'],
    ],
    [
      'cycle, printed in run order',
      [
        'name: p',
        'steps:',
        '  a: { uses: echo, needs: c }',
        '  b: { uses: echo, needs: a }',
        '  c: { uses: echo, needs: [b] }',
      ],
      ['p.yaml:3:27  steps.a.needs: dependency cycle: a -> b -> c -> a (each step needs the one before it)'],
    ],
    [
      'a step that needs itself',
      ['name: p', 'steps:', '  a: { uses: echo, needs: [a] }'],
      ['p.yaml:3:28  steps.a.needs[0]: step "a" needs itself'],
    ],
    [
      'unknown step type',
      ['name: p', 'steps:', '  train:', '    uses: comand'],
      ['p.yaml:4:11  steps.train.uses: unknown step type "comand" (did you mean "command"?)'],
    ],
    [
      'missing uses',
      ['name: p', 'steps:', '  train:', '    with: { a: 1 }'],
      ['p.yaml:3:3  steps.train: missing required key "uses"'],
    ],
    [
      'bad duration, and a heartbeat longer than the timeout',
      [
        'name: p',
        'steps:',
        '  a:',
        '    uses: echo',
        '    timeout: 30x',
        '  b:',
        '    uses: echo',
        '    timeout: 1m',
        '    heartbeat: 2m',
      ],
      [
        'p.yaml:5:14  steps.a.timeout: invalid duration "30x": expected a number and a unit (ms, s, m, h, d) such as "500ms", "2s" or "1h30m"',
        'p.yaml:9:16  steps.b.heartbeat: heartbeat (2m) must be shorter than timeout (1m)',
      ],
    ],
    [
      'reading a step that is not upstream',
      [
        'name: p',
        'steps:',
        '  prepare: { uses: echo }',
        '  train:',
        '    uses: echo',
        '    with:',
        '      rows: ${{ steps.prepare.outputs.rows }}',
        '      later: ${{ steps.evaluate.outputs.auc }}',
        '  evaluate: { uses: echo, needs: train }',
      ],
      [
        'p.yaml:7:13  steps.train.with.rows: reads steps.prepare but "prepare" is not upstream of "train" (add it to needs)',
        'p.yaml:8:14  steps.train.with.later: reads steps.evaluate but "evaluate" is not upstream of "train" (add it to needs)',
      ],
    ],
    [
      'reading its own outputs, an unknown step and item outside forEach',
      [
        'name: p',
        'steps:',
        '  a:',
        '    uses: echo',
        '    if: steps.a.outputs.ok == true',
        '    with: { x: "${{ item }}", y: "${{ steps.nope.status }}" }',
      ],
      [
        'p.yaml:5:9  steps.a.if: step "a" cannot read its own outputs in if (they do not exist yet)',
        'p.yaml:6:16  steps.a.with.x: "item" is only defined in the with of a forEach step',
        'p.yaml:6:34  steps.a.with.y: unknown step "nope"',
      ],
    ],
    [
      'unknown param in an expression',
      [
        'name: p',
        'params:',
        '  minAuc: { type: number, default: 0.7 }',
        'steps:',
        '  gate:',
        '    uses: echo',
        '    if: ${{ params.minAUC > 0.5 }}',
      ],
      ['p.yaml:7:9  steps.gate.if: unknown param "minAUC" (did you mean "minAuc"?)'],
    ],
    [
      'expression syntax error, with its column',
      ['name: p', 'steps:', '  a:', '    uses: echo', '    with:', '      x: "rows: ${{ params.x + ) }}"'],
      ['p.yaml:6:10  steps.a.with.x: unexpected ")" at column 12 of ${{ params.x + ) }}'],
    ],
    [
      'with does not fit the step type (expressions left for run time)',
      [
        'name: p',
        'params:',
        '  n: { type: number, default: 1 }',
        'steps:',
        '  run:',
        '    uses: command',
        '    with:',
        '      run: [python3, 3, "${{ params.n }}"]',
        '      shell: true',
        '      timeout: "${{ params.n }}"',
        '  nap: { uses: sleep }',
        '  later: { uses: sleep, with: { duration: "${{ params.n }}" } }',
      ],
      [
        'p.yaml:8:22  steps.run.with.run[1]: expected string, got 3',
        'p.yaml:9:7  steps.run.with.shell: unknown key "shell"',
        'p.yaml:11:3  steps.nap: missing required key "duration"',
      ],
    ],
    [
      'param defaults, enums and bounds',
      [
        'name: p',
        'params:',
        '  minAuc: { type: number, default: 1.5, minimum: 0, maximum: 1 }',
        '  window: { type: string, enum: [jan, feb], default: mar }',
        '  n: { type: integer, enum: [1, two] }',
        '  s: { type: string, minimum: 3 }',
        '  bad: { type: float }',
        'steps:',
        '  a: { uses: echo }',
      ],
      [
        'p.yaml:3:36  params.minAuc.default: default must be <= 1, got 1.5',
        'p.yaml:4:54  params.window.default: default expected one of "jan", "feb", got "mar"',
        'p.yaml:5:33  params.n.enum[1]: expected integer, got "two"',
        'p.yaml:6:22  params.s.minimum: minimum only applies to number and integer params',
        'p.yaml:7:16  params.bad.type: expected one of "string", "number", "integer", "boolean", "array", "object", got "float"',
      ],
    ],
    [
      'rollback: scheduling keys and types that cannot compensate',
      [
        'name: p',
        'steps:',
        '  a: { uses: echo }',
        '  deploy:',
        '    uses: echo',
        '    rollback:',
        '      uses: approval',
        '      needs: [a]',
        '      forEach: [1]',
        '  other:',
        '    uses: echo',
        '    rollback: { uses: undeploy }',
      ],
      [
        'p.yaml:7:13  steps.deploy.rollback.uses: "approval" cannot be a rollback: a rollback runs as an activity',
        'p.yaml:8:7  steps.deploy.rollback.needs: a rollback has no needs: it runs when its step is rolled back, in reverse order of completion',
        'p.yaml:9:7  steps.deploy.rollback.forEach: a rollback runs once for its step: it has no forEach',
        'p.yaml:12:23  steps.other.rollback.uses: unknown step type "undeploy"; known types: approval, command, echo, fail, pipeline, sleep',
      ],
    ],
    [
      'invalid step id and bad values',
      [
        'name: p',
        'steps:',
        '  9lives: { uses: echo }',
        '  ok:',
        '    uses: echo',
        '    queue: tpu',
        '    retry: { maxAttempts: 0 }',
        '    cache: yes',
      ],
      [
        'p.yaml:3:3  steps["9lives"]: invalid step id "9lives": use letters, digits, "_" and "-", starting with a letter or "_"',
        'p.yaml:6:12  steps.ok.queue: expected one of "cpu", "gpu", got "tpu" (did you mean "cpu"?)',
        'p.yaml:7:27  steps.ok.retry.maxAttempts: must be >= 1, got 0',
        'p.yaml:8:12  steps.ok.cache: expected boolean, got "yes"',
      ],
    ],
    [
      'queues: gpu resources on the cpu queue, a queue on a workflow step, concurrency without forEach',
      [
        'name: p',
        'steps:',
        '  train: { uses: command, queue: cpu, resources: { gpu: 1 }, with: { run: [x] } }',
        '  gate: { uses: approval, queue: gpu }',
        '  many: { uses: echo, concurrency: 2 }',
        '  each: { uses: echo, forEach: params.items }',
      ],
      [
        'p.yaml:3:34  steps.train.queue: resources.gpu is 1 but queue is cpu: use queue gpu',
        'p.yaml:4:27  steps.gate.queue: "approval" steps run in the workflow, not on a queue: remove queue',
        'p.yaml:5:23  steps.many.concurrency: concurrency only applies to forEach steps',
        'p.yaml:6:32  steps.each.forEach: forEach must be a list or a ${{ }} expression giving one',
      ],
    ],
    [
      'duplicate step id (the YAML parser keeps the last)',
      ['name: p', 'steps:', '  train: { uses: echo }', '  other: { uses: echo }', '  train: { uses: echo }'],
      ['p.yaml:5:3  steps.train: duplicate step id "train" (first defined on line 3)'],
    ],
    [
      'pipeline outputs, schedules and unknown expression properties',
      [
        'name: p',
        'steps:',
        '  a: { uses: echo }',
        'outputs:',
        '  auc: ${{ steps.b.outputs.auc }}',
        '  x: ${{ steps.a.output.x }}',
        'schedule:',
        '  - { cron: "0 3 * * *", overlap: skip, futureKey: ok }',
        '  - { timezone: UTC }',
      ],
      [
        'p.yaml:5:8  outputs.auc: unknown step "b"',
        'p.yaml:6:6  outputs.x: unknown property "output" of a step (steps.a) (did you mean "outputs"?) at column 9 of ${{ steps.a.output.x }}',
        'p.yaml:9:5  schedule[1]: a schedule needs "cron" or "interval"',
      ],
    ],
    [
      'child pipeline that does not exist',
      ['name: p', 'steps:', '  child: { uses: pipeline, with: { pipeline: trian } }'],
      ['p.yaml:3:46  steps.child.with.pipeline: unknown pipeline "trian" (did you mean "train"?)'],
    ],
    [
      'YAML syntax error',
      ['name: p', 'steps:', '  a: { uses: echo', '  b: [1, 2'],
      [
        'p.yaml:4:3  invalid YAML: Flow map in block collection must be sufficiently indented and end with a }',
        'p.yaml:5:1  invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
      ],
    ],
  ])('%s', (_title, lines, expected) => {
    expect(problems(yaml(lines), { knownPipelines: ['train', 'p'] })).toEqual(expected);
  });

  it('reports every problem at once, sorted by line', () => {
    const found = problems(
      yaml([
        'name: p',
        'steps:',
        '  b: { uses: echo, needs: [zz] }',
        '  a: { uses: nope, timeout: forever }',
        'extra: 1',
      ]),
    );
    expect(found).toEqual([
      'p.yaml:3:28  steps.b.needs[0]: unknown step "zz"',
      'p.yaml:4:14  steps.a.uses: unknown step type "nope"; known types: approval, command, echo, fail, pipeline, sleep',
      'p.yaml:4:29  steps.a.timeout: invalid duration "forever": expected a number and a unit (ms, s, m, h, d) such as "500ms", "2s" or "1h30m"',
      'p.yaml:5:1  extra: unknown key "extra"',
    ]);
  });

  it('formatIssues prints one per line; without positions, paths only', () => {
    const result = validateDefinition({
      name: 'p',
      steps: { train: { uses: 'echo', needs: ['prep'] }, prepare: { uses: 'echo' } },
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toEqual([
      {
        path: ['steps', 'train', 'needs', 0],
        stepId: 'train',
        message: 'unknown step "prep" (did you mean "prepare"?)',
      },
    ]);
    expect(formatIssues([...result.issues, { path: [], message: 'x', file: 'f.yaml', line: 2, column: 3 }])).toBe(
      'steps.train.needs[0]: unknown step "prep" (did you mean "prepare"?)\nf.yaml:2:3  x',
    );
  });

  it('survives input that is not a mapping at all', () => {
    for (const raw of [null, 42, 'text', [], { steps: 'x' }, { name: 'p', steps: { a: null } }]) {
      const result = validateDefinition(raw);
      expect(result.ok).toBe(false);
    }
    expect(problems('')).toEqual(['p.yaml  the definition is empty: expected name and steps']);
    expect(problems('- 1\n')).toEqual(['p.yaml:1:1  expected object, got a list']);
  });
});

describe('a valid definition', () => {
  const big = yaml([
    'name: big-example',
    'description: every feature at once',
    'params:',
    '  minAuc: { type: number, default: 0.7, description: gate, minimum: 0, maximum: 1 }',
    '  window: { type: string, enum: [jan, feb] }',
    '  items: { type: array, default: [1, 2, 3] }',
    '  retrain: { type: boolean, default: true }',
    'steps:',
    '  prepare: { uses: echo, with: { rows: 100 } }',
    '  train:',
    '    uses: command',
    '    needs: [prepare]',
    '    queue: gpu',
    '    retry: { maxAttempts: 3, initialInterval: 2s, backoff: 2, maximumInterval: 1m, nonRetryable: [GateFailed] }',
    '    timeout: 30m',
    '    heartbeat: 1m',
    '    if: params.retrain',
    '    with: { run: [python3, train.py, "${{ steps.prepare.outputs.rows }}"], env: { WINDOW: "${{ params.window }}" } }',
    '    rollback: { uses: command, with: { run: [sh, -c, "echo undo ${{ steps.train.outputs.path }}"] }, retry: { maxAttempts: 2 }, timeout: 1m }',
    '    cache: true',
    '    outputs: { model: "${{ steps.train.outputs.path }}" }',
    '  big-gpu: { uses: command, needs: train, resources: { gpu: 1 }, with: { run: [nvidia-smi] } }',
    '  gate:',
    '    uses: approval',
    '    needs: [train]',
    '    if: ${{ params.minAuc > 0.5 && steps.train.outputs.auc >= params.minAuc }}',
    '    with: { timeout: 1h, approvers: [alice] }',
    '  fan:',
    '    uses: echo',
    '    needs: gate',
    '    forEach: ${{ params.items }}',
    '    concurrency: 4',
    '    with: { value: "${{ item }}", twice: "${{ item * 2 }}", at: "${{ run.startTime }}" }',
    '  literal-fan: { uses: echo, forEach: [a, b], with: { v: "${{ item }}" } }',
    '  child:',
    '    uses: pipeline',
    '    needs: [fan]',
    '    with: { pipeline: other-pipeline, params: { x: 1, n: "${{ len(steps.fan.outputs) }}" } }',
    '  nap: { uses: sleep, with: { duration: 10ms } }',
    '  flaky: { uses: fail, with: { failAttempts: 1, type: Flaky, nonRetryable: false, message: once } }',
    'outputs:',
    '  auc: ${{ steps.train.outputs.auc }}',
    '  model: ${{ steps.train.outputs.model }}',
    'schedule:',
    '  cron: "0 3 * * *"',
    '  timezone: Europe/Paris',
    '  overlap: skip',
    '  catchupWindow: 1h',
    '  jitter: 30s',
    '  paused: false',
    '  params: { window: jan }',
    'on:',
    '  objectCreated: { bucket: mlpipe, prefix: incoming/, suffix: .parquet, param: dataset }',
  ]);

  it('passes, normalised (needs as lists, a bare if wrapped in ${{ }})', () => {
    const result = loadDefinitionText(big, { file: 'big.yaml', knownPipelines: ['other-pipeline'] });
    expect(result.issues).toEqual([]);
    expect(result.ok).toBe(true);
    const def = result.definition!;
    expect(Object.keys(def.steps)).toHaveLength(9);
    expect(def.steps.train.needs).toEqual(['prepare']);
    expect(def.steps['big-gpu'].needs).toEqual(['train']);
    expect(def.steps.prepare.needs).toEqual([]);
    expect(def.steps.train.if).toBe('${{ params.retrain }}');
    expect(def.steps.gate.if).toBe('${{ params.minAuc > 0.5 && steps.train.outputs.auc >= params.minAuc }}');
    expect(def.steps.train.retry).toEqual({
      maxAttempts: 3,
      initialInterval: '2s',
      backoff: 2,
      maximumInterval: '1m',
      nonRetryable: ['GateFailed'],
    });
    expect(def.on?.objectCreated?.bucket).toBe('mlpipe');
  });

  it('a validated definition validates again (workers re-check what they load)', () => {
    const first = loadDefinitionText(big, { knownPipelines: ['other-pipeline'] });
    const again = validateDefinition(JSON.parse(JSON.stringify(first.definition)) as unknown);
    expect(again).toEqual({ ok: true, definition: first.definition });
  });

  it('hello.yaml, the shipped example, is valid', async () => {
    const { loadDefinitionFile } = await import('./load');
    const result = await loadDefinitionFile(`${__dirname}/pipelines/hello.yaml`);
    expect(result.issues).toEqual([]);
  });
});
