/**
 * Request validation of the serving API, as pure functions: what a model takes (its {@link FeaturePlan}, built once
 * per loaded version from the graph inputs and the model card's `derive`), and how a request body becomes the
 * model's input columns. Every refusal is a {@link RequestError} naming the field and the reason.
 */
import {
  compileDerive,
  FeatureExpressionError,
  parseTimestamp,
  type CompiledDerive,
  type DeriveSpec,
} from '../ml/features';
import { categoricalColumn, numericColumn, tableFromColumns, type CategoricalColumn, type Column } from '../ml/table';

/** A refused request: HTTP status, a stable machine code, a message, and the JSON path of the field at fault. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  /** The response body: `{ error: { code, message, field? } }`. */
  toJSON(): { error: { code: string; message: string; field?: string } } {
    return {
      error: { code: this.code, message: this.message, ...(this.field !== undefined && { field: this.field }) },
    };
  }
}

/** A graph input: float32 inputs are numeric features, string inputs categorical ones. */
export interface ModelInput {
  readonly name: string;
  readonly kind: 'numeric' | 'categorical';
}

/**
 * What a `/v1` record must carry for one field:
 * `number` (a numeric model input), `string` (a categorical one), `timestamp` (read by a time function in the
 * derivation: epoch ms or text such as `2001-02-03T08:15:00`, read as UTC), `value` (another derivation input).
 */
export type FieldType = 'number' | 'string' | 'timestamp' | 'value';

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
}

/** How request rows become a model's inputs. */
export interface FeaturePlan {
  /** The graph inputs, in input order. */
  readonly inputs: readonly ModelInput[];
  /** The card's derivation cut down to what the inputs need (transitively); null when nothing is derived. */
  readonly derive: CompiledDerive | null;
  /** The fields of a `/v1` record: inputs that are not derived, and the raw columns the derivation reads. */
  readonly fields: readonly FieldSpec[];
  /** The fields that are not model inputs (what {@link FeatureRows.raw} carries), in {@link fields} order. */
  readonly rawFields: readonly string[];
}

/** Input columns of a batch of rows, aligned with {@link FeaturePlan.inputs}: float32 for numeric, "" = missing. */
export interface FeatureRows {
  readonly n: number;
  readonly columns: readonly (Float32Array | string[])[];
  /**
   * `/v1` only: the raw fields the derivation read that are not model inputs (e.g. `date`, as epoch ms), logged
   * beside the features so monitoring knows each prediction's event time.
   */
  readonly raw?: Readonly<Record<string, Float64Array | readonly (string | null)[]>>;
}

const TIME_CALL = /\b(?:hour|minute|dayOfWeek|dayOfMonth|month|year)\s*\(\s*(`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)\s*\)/g;

/**
 * Builds the plan of a model: derives only the entries of `derive` that the graph inputs need, directly or through
 * other entries (the flights card derives the label `delayed: delay > 15` too, which a request cannot carry).
 *
 * @throws FeatureExpressionError when the card's derivation does not parse
 * @example
 * const plan = planFeatures([{ name: 'hour', kind: 'numeric' }], { hour: 'hour(date)', delayed: 'delay > 15' });
 * plan.fields; // [{ name: 'date', type: 'timestamp' }]
 */
export function planFeatures(inputs: readonly ModelInput[], derive: DeriveSpec = {}): FeaturePlan {
  const full = compileDerive(derive);
  const position = new Map(full.features.map((f, i) => [f.name, i]));
  const needed = new Set(inputs.filter((i) => position.has(i.name)).map((i) => i.name));
  for (let i = full.features.length - 1; i >= 0; i--) {
    const f = full.features[i];
    if (!needed.has(f.name)) continue;
    for (const read of f.reads) {
      const at = position.get(read);
      if (at !== undefined && at < i) needed.add(read); // an earlier entry; a later one (or itself) is a raw column
    }
  }
  const used = full.features.filter((f) => needed.has(f.name));
  const compiled = used.length ? compileDerive(Object.fromEntries(used.map((f) => [f.name, f.expression]))) : null;

  const timestamps = new Set<string>();
  for (const f of used) {
    for (const m of f.expression.matchAll(TIME_CALL)) timestamps.add(m[1].replace(/^`|`$/g, ''));
  }
  const fields: FieldSpec[] = [];
  const seen = new Set<string>();
  const add = (name: string, type: FieldType) => {
    if (seen.has(name)) return;
    seen.add(name);
    fields.push({ name, type });
  };
  const inputKind = new Map(inputs.map((i) => [i.name, i.kind]));
  for (const input of inputs) {
    if (!needed.has(input.name)) add(input.name, input.kind === 'numeric' ? 'number' : 'string');
  }
  for (const raw of compiled?.inputs ?? []) {
    const kind = needed.has(raw) ? undefined : inputKind.get(raw);
    add(raw, timestamps.has(raw) ? 'timestamp' : kind === 'numeric' ? 'number' : kind ? 'string' : 'value');
  }
  const rawFields = fields.filter((f) => !inputKind.has(f.name)).map((f) => f.name);
  return { inputs, derive: compiled, fields, rawFields };
}

const describe = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'object'
        ? 'an object'
        : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkRowCount(n: number, maxRows: number, field: string): void {
  if (n < 1) throw new RequestError(400, 'invalid_request', `${field}: expected at least one row`, field);
  if (n > maxRows) {
    throw new RequestError(413, 'too_many_rows', `${field}: ${n} rows, at most ${maxRows} per request`, field);
  }
}

/**
 * Validates `/v1` records (`{ "instances": [ { "date": "...", "origin": "SFO", ... } ] }`), derives the features the
 * model needs with the card's derivation, and returns the model's input columns. Fields the model does not read are
 * ignored; `null` is a missing value; an absent field is an error.
 *
 * @throws RequestError naming `instances[<row>].<field>` and why
 */
export function recordsToRows(plan: FeaturePlan, body: unknown, maxRows: number): FeatureRows {
  if (!isRecord(body))
    throw new RequestError(400, 'invalid_request', `body: expected a JSON object, got ${describe(body)}`);
  const instances = body.instances;
  if (!Array.isArray(instances)) {
    throw new RequestError(
      400,
      'invalid_request',
      `instances: expected an array of records, got ${describe(instances)}`,
      'instances',
    );
  }
  const n = instances.length;
  checkRowCount(n, maxRows, 'instances');
  for (let r = 0; r < n; r++) {
    if (!isRecord(instances[r])) {
      throw new RequestError(
        400,
        'invalid_request',
        `instances[${r}]: expected a record (object), got ${describe(instances[r])}`,
        `instances[${r}]`,
      );
    }
  }
  // The error paths (`instances[<row>].<field>`) are built only when a row is refused: this runs per request.
  const columns: Column[] = [];
  const raw: Record<string, Float64Array | (string | null)[]> = {};
  for (const { name, type } of plan.fields) {
    const numbers = type === 'string' ? undefined : new Float64Array(n);
    const strings = type === 'number' || type === 'timestamp' ? undefined : new Array<string | null>(n);
    let sawNumber = false;
    let sawString = false;
    for (let r = 0; r < n; r++) {
      const record = instances[r] as Record<string, unknown>;
      if (!Object.hasOwn(record, name)) {
        const field = `instances[${r}].${name}`;
        throw new RequestError(
          400,
          'missing_feature',
          `${field}: missing; the model needs "${name}" (${expected(type)}, null if unknown)`,
          field,
        );
      }
      const v = record[name];
      if (v === null) {
        if (numbers) numbers[r] = NaN;
        if (strings) strings[r] = null;
        continue;
      }
      if (typeof v === 'number' && type !== 'string') {
        numbers![r] = v;
        sawNumber = true;
      } else if (typeof v === 'string' && type === 'timestamp') {
        const t = parseTimestamp(v);
        if (t !== t) {
          const field = `instances[${r}].${name}`;
          throw new RequestError(
            400,
            'invalid_feature',
            `${field}: ${describe(v)} is not a timestamp (expected e.g. 2001-02-03T08:15:00 or epoch ms)`,
            field,
          );
        }
        numbers![r] = t;
      } else if (typeof v === 'string' && strings) {
        strings[r] = v;
        sawString = true;
      } else {
        const field = `instances[${r}].${name}`;
        throw new RequestError(
          400,
          'invalid_feature',
          `${field}: expected ${expected(type)}, got ${describe(v)}`,
          field,
        );
      }
      if (sawNumber && sawString) {
        const field = `instances[${r}].${name}`;
        throw new RequestError(
          400,
          'invalid_feature',
          `${field}: mixes numbers and strings across rows; send one type`,
          field,
        );
      }
    }
    const column = sawString || type === 'string' ? categoricalColumn(name, strings!) : numericColumn(name, numbers!);
    columns.push(column);
    if (plan.rawFields.includes(name)) raw[name] = column.kind === 'numeric' ? column.values : categories(column);
  }
  let table = tableFromColumns(columns);
  if (plan.derive) {
    try {
      table = plan.derive.apply(table);
    } catch (err) {
      if (err instanceof FeatureExpressionError) {
        throw new RequestError(
          400,
          'invalid_feature',
          `cannot derive "${err.feature}" from the request: ${err.reason}`,
          `instances[*].${err.feature}`,
        );
      }
      throw err;
    }
  }
  return {
    n,
    raw,
    columns: plan.inputs.map((input) => {
      const column = table.columns.find((c) => c.name === input.name)!;
      if (input.kind === 'numeric') {
        if (column.kind !== 'numeric') {
          throw new RequestError(
            400,
            'invalid_feature',
            `instances[*].${input.name}: expected numbers, got strings`,
            `instances[*].${input.name}`,
          );
        }
        return new Float32Array(column.values);
      }
      const out = new Array<string>(n);
      if (column.kind === 'numeric') {
        // As table.ts turns numbers into categories: their decimal string; NaN is missing.
        for (let r = 0; r < n; r++) out[r] = column.values[r] !== column.values[r] ? '' : String(column.values[r]);
      } else {
        for (let r = 0; r < n; r++) out[r] = column.codes[r] < 0 ? '' : column.dictionary[column.codes[r]];
      }
      return out;
    }),
  };
}

/** A categorical column's values, row by row (null = missing). */
function categories(column: CategoricalColumn): (string | null)[] {
  const out = new Array<string | null>(column.codes.length);
  for (let r = 0; r < out.length; r++) out[r] = column.codes[r] < 0 ? null : column.dictionary[column.codes[r]];
  return out;
}

function expected(type: FieldType): string {
  switch (type) {
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'timestamp':
      return 'a timestamp (text such as 2001-02-03T08:15:00, or epoch ms)';
    case 'value':
      return 'a number or a string';
  }
}

const NUMERIC_DATATYPES = new Set([
  'FP32',
  'FP64',
  'FP16',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'BOOL',
]);

/**
 * Validates an Open Inference Protocol v2 infer request (`{ id?, inputs: [{ name, datatype, shape, data }] }`):
 * one tensor per model input, shape `[N]` or `[N, 1]`, numeric inputs as FP32/FP64/INT* (null = missing),
 * categorical inputs as BYTES strings ("" or null = missing), flat `data`.
 *
 * @throws RequestError naming `inputs[<i>].<part>` and why
 */
export function tensorsToRows(plan: FeaturePlan, body: unknown, maxRows: number): FeatureRows {
  if (!isRecord(body))
    throw new RequestError(400, 'invalid_request', `body: expected a JSON object, got ${describe(body)}`);
  const tensors = body.inputs;
  if (!Array.isArray(tensors)) {
    throw new RequestError(
      400,
      'invalid_request',
      `inputs: expected an array of tensors, got ${describe(tensors)}`,
      'inputs',
    );
  }
  const index = new Map(plan.inputs.map((input, i) => [input.name, i]));
  const columns: (Float32Array | string[] | undefined)[] = new Array(plan.inputs.length);
  let n = -1;
  for (let t = 0; t < tensors.length; t++) {
    const tensor = tensors[t];
    const at = `inputs[${t}]`;
    if (!isRecord(tensor))
      throw new RequestError(400, 'invalid_request', `${at}: expected a tensor object, got ${describe(tensor)}`, at);
    const { name, datatype, shape, data } = tensor;
    const i = typeof name === 'string' ? index.get(name) : undefined;
    if (i === undefined) {
      throw new RequestError(
        400,
        'invalid_feature',
        `${at}.name: ${describe(name)} is not an input of the model (inputs: ${plan.inputs.map((x) => x.name).join(', ')})`,
        `${at}.name`,
      );
    }
    if (columns[i])
      throw new RequestError(400, 'invalid_request', `${at}.name: input "${name as string}" given twice`, `${at}.name`);
    const input = plan.inputs[i];
    const wanted = input.kind === 'numeric' ? 'FP32' : 'BYTES';
    if (
      typeof datatype !== 'string' ||
      (input.kind === 'numeric' ? !NUMERIC_DATATYPES.has(datatype) : datatype !== 'BYTES')
    ) {
      throw new RequestError(
        400,
        'invalid_feature',
        `${at}.datatype: input "${input.name}" takes ${wanted}${input.kind === 'numeric' ? ' (or another numeric type)' : ''}, got ${describe(datatype)}`,
        `${at}.datatype`,
      );
    }
    if (
      !Array.isArray(shape) ||
      !(shape.length === 1 || (shape.length === 2 && shape[1] === 1)) ||
      !Number.isInteger(shape[0])
    ) {
      throw new RequestError(
        400,
        'invalid_request',
        `${at}.shape: expected [N] or [N, 1], got ${JSON.stringify(shape)?.slice(0, 60)}`,
        `${at}.shape`,
      );
    }
    const rows = shape[0] as number;
    checkRowCount(rows, maxRows, `${at}.shape`);
    if (n >= 0 && rows !== n) {
      throw new RequestError(
        400,
        'invalid_request',
        `${at}.shape: ${rows} rows, the other inputs have ${n}`,
        `${at}.shape`,
      );
    }
    n = rows;
    if (!Array.isArray(data) || data.length !== rows) {
      throw new RequestError(
        400,
        'invalid_request',
        `${at}.data: expected a flat array of ${rows} values, got ${Array.isArray(data) ? `${data.length} values` : describe(data)}`,
        `${at}.data`,
      );
    }
    if (input.kind === 'numeric') {
      const out = new Float32Array(rows);
      for (let r = 0; r < rows; r++) {
        const v = data[r];
        if (typeof v === 'number') out[r] = v;
        else if (v === null) out[r] = NaN;
        else if (typeof v === 'boolean' && datatype === 'BOOL') out[r] = v ? 1 : 0;
        else
          throw new RequestError(
            400,
            'invalid_feature',
            `${at}.data[${r}]: expected a number (or null), got ${describe(v)}`,
            `${at}.data[${r}]`,
          );
      }
      columns[i] = out;
    } else {
      const out = new Array<string>(rows);
      for (let r = 0; r < rows; r++) {
        const v = data[r];
        if (typeof v === 'string') out[r] = v;
        else if (v === null) out[r] = '';
        else
          throw new RequestError(
            400,
            'invalid_feature',
            `${at}.data[${r}]: expected a string (or null), got ${describe(v)}`,
            `${at}.data[${r}]`,
          );
      }
      columns[i] = out;
    }
  }
  const missing = plan.inputs.filter((_, i) => !columns[i]).map((x) => x.name);
  if (missing.length) {
    throw new RequestError(
      400,
      'missing_feature',
      `inputs: missing ${missing.map((m) => `"${m}"`).join(', ')} (the model takes ${plan.inputs.map((x) => x.name).join(', ')})`,
      `inputs.${missing[0]}`,
    );
  }
  return { n, columns: columns as (Float32Array | string[])[] };
}

/** Request ids: what a header or a prediction log key can carry safely. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The `x-request-id` header when valid, else `undefined` (the server generates one).
 *
 * @throws RequestError when a header is given but is not 1-128 characters of letters, digits, `. _ : -`
 */
export function requestIdFrom(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (!REQUEST_ID_PATTERN.test(value)) {
    throw new RequestError(
      400,
      'invalid_request_id',
      'x-request-id: expected 1-128 characters of letters, digits, . _ : - (starting with a letter or digit)',
      'x-request-id',
    );
  }
  return value;
}

/** One ground-truth label of `POST /v1/models/{name}/feedback`. */
export interface FeedbackLabel {
  /** The prediction's id: `<request id>` or `<request id>:<row>`. */
  id: string;
  label: string | number;
}

/**
 * Validates a feedback body `{ "labels": [ { "id": "...", "label": 1 } ] }` (at most `maxLabels` entries).
 *
 * @throws RequestError naming `labels[<i>].<field>` and why
 */
export function parseFeedback(body: unknown, maxLabels: number): FeedbackLabel[] {
  if (!isRecord(body))
    throw new RequestError(400, 'invalid_request', `body: expected a JSON object, got ${describe(body)}`);
  const labels = body.labels;
  if (!Array.isArray(labels)) {
    throw new RequestError(
      400,
      'invalid_request',
      `labels: expected an array of { id, label }, got ${describe(labels)}`,
      'labels',
    );
  }
  checkRowCount(labels.length, maxLabels, 'labels');
  return labels.map((entry, i) => {
    if (!isRecord(entry))
      throw new RequestError(
        400,
        'invalid_request',
        `labels[${i}]: expected { id, label }, got ${describe(entry)}`,
        `labels[${i}]`,
      );
    const { id, label } = entry;
    if (typeof id !== 'string' || !REQUEST_ID_PATTERN.test(id.length > 140 ? '' : id.replace(/:\d+$/, ''))) {
      throw new RequestError(
        400,
        'invalid_feedback',
        `labels[${i}].id: expected a prediction id (the request id, or <request id>:<row>), got ${describe(id)}`,
        `labels[${i}].id`,
      );
    }
    if (!(typeof label === 'number' || (typeof label === 'string' && label.length > 0 && label.length <= 256))) {
      throw new RequestError(
        400,
        'invalid_feedback',
        `labels[${i}].label: expected a number or a class name, got ${describe(label)}`,
        `labels[${i}].label`,
      );
    }
    return { id, label };
  });
}
