import { describe, expect, it } from 'vitest';
import {
  parseFeedback,
  planFeatures,
  recordsToRows,
  requestIdFrom,
  RequestError,
  tensorsToRows,
  type ModelInput,
} from './validation';

// The flights model: what train.gbdt exports from the flights-delay pipeline's ingest derivation.
const INPUTS: ModelInput[] = [
  { name: 'distance', kind: 'numeric' },
  { name: 'origin', kind: 'categorical' },
  { name: 'destination', kind: 'categorical' },
  { name: 'hour', kind: 'numeric' },
  { name: 'dayOfWeek', kind: 'numeric' },
];
const DERIVE = { delayed: 'delay > 15', hour: 'hour(date)', dayOfWeek: 'dayOfWeek(date)' };
const plan = planFeatures(INPUTS, DERIVE);
const row = { date: '2001-02-03T08:15:00', distance: 1200, origin: 'SFO', destination: 'LAX' };

/** The RequestError a call throws. */
function refusal(fn: () => unknown): RequestError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RequestError) return err;
    throw err;
  }
  throw new Error('expected a RequestError');
}

describe('planFeatures', () => {
  it('derives only what the model reads: the label derivation is left out', () => {
    expect(Object.keys(plan.derive!.spec)).toEqual(['hour', 'dayOfWeek']);
    expect(plan.fields).toEqual([
      { name: 'distance', type: 'number' },
      { name: 'origin', type: 'string' },
      { name: 'destination', type: 'string' },
      { name: 'date', type: 'timestamp' },
    ]);
  });

  it('follows derived features that read other derived features, transitively', () => {
    const p = planFeatures([{ name: 'night', kind: 'numeric' }], {
      label: 'delay > 15',
      h: 'hour(date)',
      unused: 'h * 2',
      night: 'h < 6 || h >= 22',
    });
    expect(Object.keys(p.derive!.spec)).toEqual(['h', 'night']);
    expect(p.fields).toEqual([{ name: 'date', type: 'timestamp' }]);
  });

  it('a model without a derivation takes its inputs as they are', () => {
    const p = planFeatures(INPUTS.slice(0, 2));
    expect(p.derive).toBeNull();
    expect(p.fields.map((f) => f.name)).toEqual(['distance', 'origin']);
  });
});

describe('recordsToRows', () => {
  it('derives hour and day of week from a timestamp string (UTC) and builds the input columns', () => {
    const rows = recordsToRows(plan, { instances: [row, { ...row, date: 981187200000, origin: null }] }, 10);
    expect(rows.n).toBe(2);
    expect(Array.from(rows.columns[0] as Float32Array)).toEqual([1200, 1200]);
    expect(rows.columns[1]).toEqual(['SFO', '']);
    expect(rows.columns[2]).toEqual(['LAX', 'LAX']);
    // 2001-02-03 is a Saturday (6); epoch ms 981187200000 is 2001-02-03T08:00:00Z.
    expect(Array.from(rows.columns[3] as Float32Array)).toEqual([8, 8]);
    expect(Array.from(rows.columns[4] as Float32Array)).toEqual([6, 6]);
  });

  it('ignores fields the model does not read (the raw record may carry the label)', () => {
    const rows = recordsToRows(plan, { instances: [{ ...row, delay: 30, comment: 'x' }] }, 10);
    expect(rows.columns).toHaveLength(5);
  });

  it('null is a missing value: NaN for numbers', () => {
    const rows = recordsToRows(plan, { instances: [{ ...row, distance: null, date: null }] }, 10);
    expect(Number.isNaN((rows.columns[0] as Float32Array)[0])).toBe(true);
    expect(Number.isNaN((rows.columns[3] as Float32Array)[0])).toBe(true);
  });

  it.each([
    [
      { instances: [{ ...row, distance: '1200' }] },
      400,
      'invalid_feature',
      'instances[0].distance',
      /expected a number/,
    ],
    [{ instances: [{ ...row, origin: 7 }] }, 400, 'invalid_feature', 'instances[0].origin', /expected a string/],
    [{ instances: [{ ...row, date: 'yesterday' }] }, 400, 'invalid_feature', 'instances[0].date', /not a timestamp/],
    [{ instances: [row, { date: row.date, distance: 5 }] }, 400, 'missing_feature', 'instances[1].origin', /missing/],
    [{ instances: [] }, 400, 'invalid_request', 'instances', /at least one/],
    [{ rows: [row] }, 400, 'invalid_request', 'instances', /expected an array/],
    [{ instances: [row, 3] }, 400, 'invalid_request', 'instances[1]', /expected a record/],
    [{ instances: Array(11).fill(row) }, 413, 'too_many_rows', 'instances', /at most 10/],
  ])('refuses %j with %i %s naming %s', (body, status, code, field, message) => {
    const err = refusal(() => recordsToRows(plan, body, 10));
    expect({ status: err.status, code: err.code, field: err.field }).toEqual({ status, code, field });
    expect(err.message).toMatch(message);
    expect(err.toJSON().error.field).toBe(field);
  });

  it('a derivation input of no known type takes numbers or strings, not both', () => {
    const p = planFeatures([{ name: 'isHub', kind: 'numeric' }], { isHub: "airport == 'ORD'" });
    expect(p.fields).toEqual([{ name: 'airport', type: 'value' }]);
    const rows = recordsToRows(p, { instances: [{ airport: 'ORD' }, { airport: 'SFO' }] }, 10);
    expect(Array.from(rows.columns[0] as Float32Array)).toEqual([1, 0]);
    expect(refusal(() => recordsToRows(p, { instances: [{ airport: 'ORD' }, { airport: 3 }] }, 10)).field).toBe(
      'instances[1].airport',
    );
  });
});

describe('tensorsToRows (Open Inference Protocol v2)', () => {
  const tensors = [
    { name: 'distance', datatype: 'FP32', shape: [2, 1], data: [1200, null] },
    { name: 'origin', datatype: 'BYTES', shape: [2], data: ['SFO', null] },
    { name: 'destination', datatype: 'BYTES', shape: [2, 1], data: ['LAX', 'JFK'] },
    { name: 'hour', datatype: 'INT64', shape: [2], data: [8, 23] },
    { name: 'dayOfWeek', datatype: 'FP64', shape: [2], data: [6, 0] },
  ];

  it('takes one tensor per input in any order, [N] or [N, 1], null as missing', () => {
    const rows = tensorsToRows(plan, { inputs: [...tensors].reverse() }, 10);
    expect(rows.n).toBe(2);
    expect(Array.from(rows.columns[0] as Float32Array)).toEqual([1200, NaN]);
    expect(rows.columns[1]).toEqual(['SFO', '']);
    expect(Array.from(rows.columns[3] as Float32Array)).toEqual([8, 23]);
  });

  it.each([
    [[...tensors.slice(1)], 'missing_feature', 'inputs.distance'],
    [[...tensors, { name: 'month', datatype: 'FP32', shape: [2], data: [1, 2] }], 'invalid_feature', 'inputs[5].name'],
    [[{ ...tensors[0], datatype: 'BYTES' }, ...tensors.slice(1)], 'invalid_feature', 'inputs[0].datatype'],
    [[{ ...tensors[0], data: [1200, 'far'] }, ...tensors.slice(1)], 'invalid_feature', 'inputs[0].data[1]'],
    [[{ ...tensors[0], shape: [2, 2] }, ...tensors.slice(1)], 'invalid_request', 'inputs[0].shape'],
    [[{ ...tensors[0], data: [1200] }, ...tensors.slice(1)], 'invalid_request', 'inputs[0].data'],
    [[tensors[0], { ...tensors[1], shape: [1], data: ['SFO'] }], 'invalid_request', 'inputs[1].shape'],
    [[tensors[0], tensors[0]], 'invalid_request', 'inputs[1].name'],
  ])('refuses a bad request (%#) naming %s %s', (inputs, code, field) => {
    const err = refusal(() => tensorsToRows(plan, { inputs }, 10));
    expect(err.status).toBe(400);
    expect({ code: err.code, field: err.field }).toEqual({ code, field });
  });

  it('bounds the rows', () => {
    const big = tensors.map((t) => ({ ...t, shape: [11], data: Array(11).fill(t.data[0]) }));
    expect(refusal(() => tensorsToRows(plan, { inputs: big }, 10)).status).toBe(413);
  });
});

describe('request ids and feedback', () => {
  it('takes a well-formed x-request-id and refuses anything else', () => {
    expect(requestIdFrom(undefined)).toBeUndefined();
    expect(requestIdFrom('abc-123:4.x_y')).toBe('abc-123:4.x_y');
    expect(refusal(() => requestIdFrom('a b')).field).toBe('x-request-id');
    expect(refusal(() => requestIdFrom('x'.repeat(129))).code).toBe('invalid_request_id');
  });

  it('parses labels and names the entry at fault', () => {
    expect(parseFeedback({ labels: [{ id: 'r1:3', label: 1 }] }, 5)).toEqual([{ id: 'r1:3', label: 1 }]);
    expect(refusal(() => parseFeedback({ labels: [{ id: 'r1', label: 1 }, { id: 'r2' }] }, 5)).field).toBe(
      'labels[1].label',
    );
    expect(refusal(() => parseFeedback({ labels: [{ id: '', label: 1 }] }, 5)).field).toBe('labels[0].id');
    expect(refusal(() => parseFeedback({ labels: Array(6).fill({ id: 'a', label: 0 }) }, 5)).status).toBe(413);
    expect(refusal(() => parseFeedback([], 5)).code).toBe('invalid_request');
  });
});
