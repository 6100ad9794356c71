/**
 * The GBDT trainer's hot loops (histogram building, row partitioning, score updates, the binary
 * objective's gradients) and where they run: a WebAssembly module assembled here from a few
 * hundred instructions, one memory holding every array they touch, and a helper thread that runs
 * the second half of large leaves.
 *
 * Why WebAssembly: the same loops in JavaScript pay a bounds check on every typed-array access;
 * compiled, with the histogram layout baked in as constants, they run 2-4× faster (measured on
 * the 2.4M-row flights benchmark, `npm run bench:train`, figures in README.md). Every kernel performs the same float
 * operations in the same order as the JavaScript it replaces (`buildHistogram` in histogram.ts,
 * `partitionRows` below, objective.ts's binary gradients, Math.exp), so models are bit-identical
 * either way; the JavaScript is the reference, and the fallback when a dataset does not fit in a
 * 32-bit memory. learner-kernels.test.ts holds them to that.
 *
 * In the kernels, pointers are byte offsets into the memory; counts and indices are plain i32.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { buildHistogram, clearHistogram, encodeGroups, HIST_STRIDE, type HistogramLayout } from './histogram';

/** The part of the WebAssembly JavaScript API used here (the project's TypeScript libs lack it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
type WasmModule = object;
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
};

const I32 = 0x7f;
const F64 = 0x7c;

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
};

const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) return [...out, byte];
    out.push(byte | 0x80);
  }
};

const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/** The instructions the kernels use (binary encoding of the WebAssembly 1.0 spec). */
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  tee: (local: number) => [0x22, ...uleb(local)],
  // Loads and stores: alignment exponent, then a constant offset added to the address.
  i32Load: (offset = 0) => [0x28, 2, ...uleb(offset)],
  i32Load8U: (offset = 0) => [0x2d, 0, ...uleb(offset)],
  i32Load16U: (offset = 0) => [0x2f, 1, ...uleb(offset)],
  f64Load: (offset = 0) => [0x2b, 3, ...uleb(offset)],
  i32Store: (offset = 0) => [0x36, 2, ...uleb(offset)],
  f64Store: (offset = 0) => [0x39, 3, ...uleb(offset)],
  i32Const: (n: number) => [0x41, ...sleb(n)],
  f64Const: (x: number) => [0x44, ...new Uint8Array(Float64Array.of(x).buffer)],
  i64Const: (n: number) => [0x42, ...sleb(n)],
  /** dest, source, bytes → (memmove; bulk memory) */
  memoryCopy: [0xfc, 0x0a, 0x00, 0x00],
  if: [0x04, 0x40],
  else: [0x05],
  return: [0x0f],
  call: (index: number) => [0x10, ...uleb(index)],
  /** a, b, condition → condition ? a : b */
  select: [0x1b],
  i32Eqz: [0x45],
  i32Eq: [0x46],
  i32LtU: [0x49],
  i32GtU: [0x4b],
  i32GeS: [0x4e],
  i32GeU: [0x4f],
  f64Eq: [0x61],
  f64Lt: [0x63],
  f64Gt: [0x64],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Or: [0x72],
  i32Shl: [0x74],
  i32ShrU: [0x76],
  i64Shl: [0x86],
  i64ShrU: [0x88],
  f64Neg: [0x9a],
  f64Add: [0xa0],
  f64Sub: [0xa1],
  f64Mul: [0xa2],
  f64Div: [0xa3],
  f64Max: [0xa5],
  i32WrapI64: [0xa7],
  i32TruncF64S: [0xaa],
  i64ExtendI32U: [0xad],
  f64ConvertI32S: [0xb7],
  i64ReinterpretF64: [0xbd],
  f64ReinterpretI64: [0xbf],
};

/** `base + index << shift`: the address of element `index` of an array of 2^shift-byte elements. */
const address = (base: number[], index: number[], shift: number): number[] => [
  ...base,
  ...index,
  ...op.i32Const(shift),
  ...op.i32Shl,
  ...op.i32Add,
];

/** `for (local = from; local < to; local++) body`, skipped when from >= to. */
const forRange = (local: number, from: number[], to: number[], body: number[]): number[] => [
  ...from,
  ...op.set(local),
  ...op.block,
  ...op.get(local),
  ...to,
  ...op.i32GeU,
  ...op.brIf(0),
  ...op.loop,
  ...body,
  ...op.get(local),
  ...op.i32Const(1),
  ...op.i32Add,
  ...op.tee(local),
  ...to,
  ...op.i32LtU,
  ...op.brIf(0),
  ...op.end,
  ...op.end,
];

interface KernelFunction {
  name: string;
  params: number[];
  results: number[];
  locals: number[];
  body: number[];
}

/**
 * histogram(rows, start, end, codes, numGroups, grad, hess, hist, groupIndex, groupBase, numUsed):
 * for each row r = rows[start..end), for each used group j: the cell of r in group groupIndex[j]
 * is codes[r * numGroups + groupIndex[j]] (u16), and hist + groupBase[j] + cell * 24 receives
 * (+grad[r], +hess[r], +1). As `buildHistogram` in histogram.ts.
 */
function histogramKernel(): KernelFunction {
  const [rows, start, end, codes, numGroups, grad, hess, hist, groupIndex, groupBase, numUsed] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
  ];
  const [i, r, g, h, rowCodes, j, cell] = [11, 12, 13, 14, 15, 16, 17];
  const accumulate = (offset: number, value: number[]) => [
    ...op.get(cell),
    ...op.get(cell),
    ...op.f64Load(offset),
    ...value,
    ...op.f64Add,
    ...op.f64Store(offset),
  ];
  const perGroup = [
    // cell address = hist + groupBase[j] + codes16[rowCodes + groupIndex[j] * 2] * 24
    ...op.get(hist),
    ...address(op.get(groupBase), op.get(j), 2),
    ...op.i32Load(),
    ...op.i32Add,
    ...address(op.get(rowCodes), [...address(op.get(groupIndex), op.get(j), 2), ...op.i32Load()], 1),
    ...op.i32Load16U(),
    ...op.i32Const(24),
    ...op.i32Mul,
    ...op.i32Add,
    ...op.set(cell),
    ...accumulate(0, op.get(g)),
    ...accumulate(8, op.get(h)),
    ...accumulate(16, op.f64Const(1)),
  ];
  const perRow = [
    ...address(op.get(rows), op.get(i), 2),
    ...op.i32Load(),
    ...op.set(r),
    ...address(op.get(grad), op.get(r), 3),
    ...op.f64Load(),
    ...op.set(g),
    ...address(op.get(hess), op.get(r), 3),
    ...op.f64Load(),
    ...op.set(h),
    ...address(op.get(codes), [...op.get(r), ...op.get(numGroups), ...op.i32Mul], 1),
    ...op.set(rowCodes),
    ...forRange(j, op.i32Const(0), op.get(numUsed), perGroup),
  ];
  return {
    name: 'histogram',
    params: Array.from({ length: 11 }, () => I32),
    results: [],
    locals: [I32, I32, F64, F64, I32, I32, I32],
    body: forRange(i, op.get(start), op.get(end), perRow),
  };
}

/**
 * histogramAll(rows, start, end, codes, grad, hess, hist): `histogram` over every group, compiled
 * for one layout: the groups' count and offsets are constants, each group's update unrolled.
 * The same additions in the same order as `histogram` with all groups used.
 */
function histogramAllKernel(groupBytes: readonly number[]): KernelFunction {
  const [rows, start, end, codes, grad, hess, hist] = [0, 1, 2, 3, 4, 5, 6];
  const [i, r, g, h, rowCodes, cell] = [7, 8, 9, 10, 11, 12];
  const accumulate = (offset: number, value: number[]) => [
    ...op.get(cell),
    ...op.get(cell),
    ...op.f64Load(offset),
    ...value,
    ...op.f64Add,
    ...op.f64Store(offset),
  ];
  const perGroup = (j: number, base: number) => [
    // cell address = hist + codes16[rowCodes + j * 2] * 24; the group's offset is the constant `base`
    ...op.get(hist),
    ...op.get(rowCodes),
    ...op.i32Load16U(j * 2),
    ...op.i32Const(24),
    ...op.i32Mul,
    ...op.i32Add,
    ...op.set(cell),
    ...accumulate(base, op.get(g)),
    ...accumulate(base + 8, op.get(h)),
    ...accumulate(base + 16, op.f64Const(1)),
  ];
  const perRow = [
    ...address(op.get(rows), op.get(i), 2),
    ...op.i32Load(),
    ...op.set(r),
    ...address(op.get(grad), op.get(r), 3),
    ...op.f64Load(),
    ...op.set(g),
    ...address(op.get(hess), op.get(r), 3),
    ...op.f64Load(),
    ...op.set(h),
    ...address(op.get(codes), [...op.get(r), ...op.i32Const(groupBytes.length), ...op.i32Mul], 1),
    ...op.set(rowCodes),
    ...groupBytes.flatMap((base, j) => perGroup(j, base)),
  ];
  return {
    name: 'histogramAll',
    params: Array.from({ length: 7 }, () => I32),
    results: [],
    locals: [I32, I32, F64, F64, I32, I32],
    body: forRange(i, op.get(start), op.get(end), perRow),
  };
}

/**
 * partition(rows, scratch, bins, numFeatures, feature, goLeft, start, end) → left count: stable
 * partition of rows[start..end) in place by goLeft[bins[r * numFeatures + feature]] (u8), left
 * rows first, through scratch[start..end). As `partitionRows` below.
 */
function partitionKernel(): KernelFunction {
  const [rows, scratch, bins, numFeatures, feature, goLeft, start, end] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [i, nl, nr, r, isLeft] = [8, 9, 10, 11, 12];
  const perRow = [
    ...address(op.get(rows), op.get(i), 2),
    ...op.i32Load(),
    ...op.set(r),
    // isLeft = goLeft[bins[r * numFeatures + feature]]
    ...op.get(goLeft),
    ...op.get(bins),
    ...op.get(r),
    ...op.get(numFeatures),
    ...op.i32Mul,
    ...op.i32Add,
    ...op.get(feature),
    ...op.i32Add,
    ...op.i32Load8U(),
    ...op.i32Add,
    ...op.i32Load8U(),
    ...op.set(isLeft),
    // Branch-free: rows[nl] = r; scratch[nr] = r; nl += isLeft; nr += 1 - isLeft.
    ...address(op.get(rows), op.get(nl), 2),
    ...op.get(r),
    ...op.i32Store(),
    ...address(op.get(scratch), op.get(nr), 2),
    ...op.get(r),
    ...op.i32Store(),
    ...op.get(nl),
    ...op.get(isLeft),
    ...op.i32Add,
    ...op.set(nl),
    ...op.get(nr),
    ...op.i32Const(1),
    ...op.i32Add,
    ...op.get(isLeft),
    ...op.i32Sub,
    ...op.set(nr),
  ];
  return {
    name: 'partition',
    params: Array.from({ length: 8 }, () => I32),
    results: [I32],
    locals: [I32, I32, I32, I32, I32],
    body: [
      ...op.get(start),
      ...op.set(nl),
      ...op.get(start),
      ...op.set(nr),
      ...forRange(i, op.get(start), op.get(end), perRow),
      // The right rows back after the left ones: memory.copy(rows + 4 nl, scratch + 4 start, 4 (nr - start)).
      ...address(op.get(rows), op.get(nl), 2),
      ...address(op.get(scratch), op.get(start), 2),
      ...[...op.get(nr), ...op.get(start), ...op.i32Sub, ...op.i32Const(2), ...op.i32Shl],
      ...op.memoryCopy,
      ...op.get(nl),
      ...op.get(start),
      ...op.i32Sub,
    ],
  };
}

/**
 * exp(x), a transcription of fdlibm's e_exp.c as V8 runs it for Math.exp (src/base/ieee754.cc),
 * operation for operation, so the two agree to the bit (learner-kernels.test.ts checks).
 */
function expFunction(): KernelFunction {
  const x = 0;
  const [hx, xsb, k, hi, lo, t, c, y] = [1, 2, 3, 4, 5, 6, 7, 8];
  const LN2_HI = 6.9314718036912381649e-1;
  const LN2_LO = 1.90821492927058770002e-10;
  const P = [
    1.66666666666666019037e-1, -2.77777777770155933842e-3, 6.61375632143793436117e-5, -1.6533902205465251539e-6,
    4.13813679705723846039e-8,
  ];
  const ret = (value: number[]) => [...value, ...op.return];
  /** 2^(k + bias) as the double with high word 0x3ff00000 + ((k + bias) << 20). */
  const twoToThe = (bias: number) => [
    ...op.i32Const(0x3ff00000),
    ...op.get(k),
    ...(bias ? [...op.i32Const(bias), ...op.i32Add] : []),
    ...op.i32Const(20),
    ...op.i32Shl,
    ...op.i32Add,
    ...op.i64ExtendI32U,
    ...op.i64Const(32),
    ...op.i64Shl,
    ...op.f64ReinterpretI64,
  ];
  // P1 + t * (P2 + t * (P3 + t * (P4 + t * P5)))
  const poly = P.slice(0, -1).reduceRight(
    (inner, coefficient) => [...op.f64Const(coefficient), ...op.get(t), ...inner, ...op.f64Mul, ...op.f64Add],
    op.f64Const(P[P.length - 1]),
  );
  const body = [
    // hx = high word of x, xsb = its sign, then |hx|
    ...op.get(x),
    ...op.i64ReinterpretF64,
    ...op.i64Const(32),
    ...op.i64ShrU,
    ...op.i32WrapI64,
    ...op.tee(hx),
    ...op.i32Const(31),
    ...op.i32ShrU,
    ...op.set(xsb),
    ...op.get(hx),
    ...op.i32Const(0x7fffffff),
    ...op.i32And,
    ...op.set(hx),
    // |x| >= 709.78: overflow, underflow, inf or NaN
    ...op.get(hx),
    ...op.i32Const(0x40862e42),
    ...op.i32GeU,
    ...op.if,
    ...op.get(hx),
    ...op.i32Const(0x7ff00000),
    ...op.i32GeU,
    ...op.if,
    ...[...op.get(hx), ...op.i32Const(0xfffff), ...op.i32And],
    ...[...op.get(x), ...op.i64ReinterpretF64, ...op.i32WrapI64, ...op.i32Or],
    ...op.if,
    ...ret([...op.get(x), ...op.get(x), ...op.f64Add]),
    ...op.end,
    ...ret([...op.get(x), ...op.f64Const(0), ...op.get(xsb), ...op.i32Eqz, ...op.select]),
    ...op.end,
    ...[...op.get(x), ...op.f64Const(7.09782712893383973096e2), ...op.f64Gt, ...op.if],
    ...ret(op.f64Const(Infinity)),
    ...op.end,
    ...[...op.get(x), ...op.f64Const(-7.4513321910194110842e2), ...op.f64Lt, ...op.if],
    ...ret(op.f64Const(0)),
    ...op.end,
    ...op.end,
    // Argument reduction: x = k ln2 + (hi - lo)
    ...op.get(hx),
    ...op.i32Const(0x3fd62e42),
    ...op.i32GtU,
    ...op.if,
    ...op.get(hx),
    ...op.i32Const(0x3ff0a2b2),
    ...op.i32LtU,
    ...op.if,
    // V8 answers exp(1) with the correctly rounded e, which this branch gets one bit off.
    ...[...op.get(x), ...op.f64Const(1), ...op.f64Eq, ...op.if],
    ...ret(op.f64Const(Math.E)),
    ...op.end,
    ...[...op.get(x), ...op.f64Const(-LN2_HI), ...op.f64Const(LN2_HI), ...op.get(xsb), ...op.select, ...op.f64Sub],
    ...op.set(hi),
    ...[...op.f64Const(-LN2_LO), ...op.f64Const(LN2_LO), ...op.get(xsb), ...op.select, ...op.set(lo)],
    ...[...op.i32Const(1), ...op.get(xsb), ...op.i32Const(1), ...op.i32Shl, ...op.i32Sub, ...op.set(k)],
    ...op.else,
    ...[...op.f64Const(1.442695040888963387), ...op.get(x), ...op.f64Mul],
    ...[...op.f64Const(-0.5), ...op.f64Const(0.5), ...op.get(xsb), ...op.select, ...op.f64Add],
    ...[...op.i32TruncF64S, ...op.tee(k), ...op.f64ConvertI32S, ...op.set(t)],
    ...[...op.get(x), ...op.get(t), ...op.f64Const(LN2_HI), ...op.f64Mul, ...op.f64Sub, ...op.set(hi)],
    ...[...op.get(t), ...op.f64Const(LN2_LO), ...op.f64Mul, ...op.set(lo)],
    ...op.end,
    ...[...op.get(hi), ...op.get(lo), ...op.f64Sub, ...op.set(x)],
    ...op.else,
    // |x| < 2^-28: 1 + x
    ...[...op.get(hx), ...op.i32Const(0x3e300000), ...op.i32LtU, ...op.if],
    ...ret([...op.f64Const(1), ...op.get(x), ...op.f64Add]),
    ...op.end,
    ...[...op.i32Const(0), ...op.set(k)],
    ...op.end,
    // c = x - t * poly(t), t = x²
    ...[...op.get(x), ...op.get(x), ...op.f64Mul, ...op.set(t)],
    ...[...op.get(x), ...op.get(t), ...poly, ...op.f64Mul, ...op.f64Sub, ...op.set(c)],
    // k = 0: 1 - ((x c) / (c - 2) - x)
    ...[...op.get(k), ...op.i32Eqz, ...op.if],
    ...ret([
      ...op.f64Const(1),
      ...[...op.get(x), ...op.get(c), ...op.f64Mul, ...op.get(c), ...op.f64Const(2), ...op.f64Sub, ...op.f64Div],
      ...[...op.get(x), ...op.f64Sub, ...op.f64Sub],
    ]),
    ...op.end,
    // y = 1 - ((lo - (x c) / (2 - c)) - hi), scaled by 2^k
    ...[...op.f64Const(1), ...op.get(lo)],
    ...[...op.get(x), ...op.get(c), ...op.f64Mul, ...op.f64Const(2), ...op.get(c), ...op.f64Sub, ...op.f64Div],
    ...[...op.f64Sub, ...op.get(hi), ...op.f64Sub, ...op.f64Sub, ...op.set(y)],
    ...[...op.get(k), ...op.i32Const(-1021), ...op.i32GeS, ...op.if],
    ...[...op.get(k), ...op.i32Const(1024), ...op.i32Eq, ...op.if],
    ...ret([...op.get(y), ...op.f64Const(2), ...op.f64Mul, ...op.f64Const(8.98846567431157953865e307), ...op.f64Mul]),
    ...op.end,
    ...ret([...op.get(y), ...twoToThe(0), ...op.f64Mul]),
    ...op.end,
    ...[...op.get(y), ...twoToThe(1000), ...op.f64Mul, ...op.f64Const(9.3326361850321887899e-302), ...op.f64Mul],
  ];
  return { name: 'exp', params: [F64], results: [F64], locals: [I32, I32, I32, F64, F64, F64, F64, F64], body };
}

/**
 * binaryGradients(scores, labels, grad, hess, products, start, end): the binary objective's
 * gradients of objective.ts for rows [start, end) (start a multiple of 16), the same operations
 * in the same order: p = 1 / (1 + exp(−score)), grad = p − y, hess = max(p (1 − p), 1e-16); and
 * the loss as LogSum keeps it: products[b] = Π of the clamped likelihoods of rows 16b..16b+15.
 */
function binaryGradientsKernel(expIndex: number): KernelFunction {
  const [scores, labels, grad, hess, products, start, end] = [0, 1, 2, 3, 4, 5, 6];
  const [i, p, y, q, product] = [7, 8, 9, 10, 11];
  const perRow = [
    ...op.f64Const(1),
    ...[...op.f64Const(1), ...address(op.get(scores), op.get(i), 3), ...op.f64Load(), ...op.f64Neg],
    ...[...op.call(expIndex), ...op.f64Add, ...op.f64Div, ...op.set(p)],
    ...[...address(op.get(labels), op.get(i), 3), ...op.f64Load(), ...op.set(y)],
    ...[...address(op.get(grad), op.get(i), 3), ...op.get(p), ...op.get(y), ...op.f64Sub, ...op.f64Store()],
    ...address(op.get(hess), op.get(i), 3),
    ...[...op.get(p), ...op.f64Const(1), ...op.get(p), ...op.f64Sub, ...op.f64Mul, ...op.f64Const(1e-16), ...op.f64Max],
    ...op.f64Store(),
    // q = y > 0.5 ? p : 1 − p, clamped: q < 1e-15 ? 1e-15 : q > 1 ? 1 : q
    ...[...op.get(p), ...op.f64Const(1), ...op.get(p), ...op.f64Sub, ...op.get(y), ...op.f64Const(0.5), ...op.f64Gt],
    ...[...op.select, ...op.set(q)],
    ...[...op.get(product), ...op.f64Const(1e-15)],
    ...[...op.f64Const(1), ...op.get(q), ...op.get(q), ...op.f64Const(1), ...op.f64Gt, ...op.select],
    ...[...op.get(q), ...op.f64Const(1e-15), ...op.f64Lt, ...op.select, ...op.f64Mul, ...op.set(product)],
    // The 16th row of a block closes it.
    ...[...op.get(i), ...op.i32Const(15), ...op.i32And, ...op.i32Const(15), ...op.i32Eq, ...op.if],
    ...address(op.get(products), [...op.get(i), ...op.i32Const(4), ...op.i32ShrU], 3),
    ...[...op.get(product), ...op.f64Store(), ...op.f64Const(1), ...op.set(product)],
    ...op.end,
  ];
  return {
    name: 'binaryGradients',
    params: Array.from({ length: 7 }, () => I32),
    results: [],
    locals: [I32, F64, F64, F64, F64],
    body: [
      ...op.f64Const(1),
      ...op.set(product),
      ...forRange(i, op.get(start), op.get(end), perRow),
      // A last, partial block.
      ...[...op.get(end), ...op.i32Const(15), ...op.i32And, ...op.if],
      ...address(op.get(products), [...op.get(end), ...op.i32Const(4), ...op.i32ShrU], 3),
      ...[...op.get(product), ...op.f64Store()],
      ...op.end,
    ],
  };
}

/**
 * addScores(rows, start, end, scores, numOutputs, k, value): scores[rows[i] * numOutputs + k] +=
 * value (f64) for i in [start, end). As `TreeLearner.addToScores` in JavaScript.
 */
function addScoresKernel(): KernelFunction {
  const [rows, start, end, scores, numOutputs, k, value] = [0, 1, 2, 3, 4, 5, 6];
  const [i, at] = [7, 8];
  const perRow = [
    ...address(
      op.get(scores),
      [
        ...address(op.get(rows), op.get(i), 2),
        ...op.i32Load(),
        ...op.get(numOutputs),
        ...op.i32Mul,
        ...op.get(k),
        ...op.i32Add,
      ],
      3,
    ),
    ...op.tee(at),
    ...op.get(at),
    ...op.f64Load(),
    ...op.get(value),
    ...op.f64Add,
    ...op.f64Store(),
  ];
  return {
    name: 'addScores',
    params: [I32, I32, I32, I32, I32, I32, F64],
    results: [],
    locals: [I32, I32],
    body: forRange(i, op.get(start), op.get(end), perRow),
  };
}

/** The module's bytes; it imports its memory as env.memory (shared, `pages` 64 KiB pages). */
function assemble(pages: number, shared: boolean, groupBytes: readonly number[]): Uint8Array {
  // The exp function is called by index: it comes first.
  const functions = [
    expFunction(),
    histogramKernel(),
    histogramAllKernel(groupBytes),
    partitionKernel(),
    addScoresKernel(),
    binaryGradientsKernel(0),
  ];
  const types = functions.map((f) => [0x60, ...vector(f.params.map((t) => [t])), ...vector(f.results.map((t) => [t]))]);
  // Limits: flags 1 = min and max, 3 = shared with min and max.
  const memory = [...name('env'), ...name('memory'), 0x02, shared ? 0x03 : 0x01, ...uleb(pages), ...uleb(pages)];
  const code = functions.map((f) => {
    const body = [...vector(f.locals.map((t) => [1, t])), ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(types)),
    ...section(2, vector([memory])),
    ...section(3, vector(functions.map((_, i) => uleb(i)))),
    ...section(7, vector(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vector(code)),
  ]);
}

/** The kernels' exports, as called with byte offsets (see the kernel comments above). */
export interface KernelExports {
  histogram(
    rows: number,
    start: number,
    end: number,
    codes: number,
    numGroups: number,
    grad: number,
    hess: number,
    hist: number,
    groupIndex: number,
    groupBase: number,
    numUsed: number,
  ): void;
  histogramAll(rows: number, start: number, end: number, codes: number, grad: number, hess: number, hist: number): void;
  partition(
    rows: number,
    scratch: number,
    bins: number,
    numFeatures: number,
    feature: number,
    goLeft: number,
    start: number,
    end: number,
  ): number;
  addScores(
    rows: number,
    start: number,
    end: number,
    scores: number,
    numOutputs: number,
    k: number,
    value: number,
  ): void;
  binaryGradients(
    scores: number,
    labels: number,
    grad: number,
    hess: number,
    products: number,
    start: number,
    end: number,
  ): void;
  exp(x: number): number;
}

const PAGE_BYTES = 65_536;
/** Largest arena: offsets must stay below 2^31 for i32 arithmetic. */
export const MAX_ARENA_BYTES = 2 ** 31 - PAGE_BYTES;

export type TypedArrayType<T> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  BYTES_PER_ELEMENT: number;
};

/**
 * One WebAssembly memory of a fixed size, carved into typed arrays by a bump allocator, with the
 * kernels instantiated on it. Shared memory lets a helper thread instantiate the same module on
 * the same bytes (`module`, `memory`).
 */
export class KernelArena {
  readonly memory: WasmMemory;
  readonly module: WasmModule;
  readonly kernels: KernelExports;
  private next = 0;

  private constructor(
    private readonly size: number,
    shared: boolean,
    groupBytes: readonly number[],
  ) {
    const pages = Math.max(1, Math.ceil(size / PAGE_BYTES));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
    this.module = new WebAssembly.Module(assemble(pages, shared, groupBytes));
    this.kernels = new WebAssembly.Instance(this.module, { env: { memory: this.memory } })
      .exports as unknown as KernelExports;
  }

  /**
   * An arena of at least `bytes` whose `histogramAll` is compiled for groups at these byte offsets
   * within a histogram; null if that is too large (or WebAssembly is missing).
   */
  static create(bytes: number, shared: boolean, groupBytes: readonly number[]): KernelArena | null {
    if (bytes > MAX_ARENA_BYTES || typeof WebAssembly === 'undefined') return null;
    try {
      return new KernelArena(bytes, shared, groupBytes);
    } catch {
      return null;
    }
  }

  /** Bytes an `alloc` of `length` elements of `bytesPerElement` takes (16-byte aligned). */
  static bytes(length: number, bytesPerElement: number): number {
    return Math.ceil((length * bytesPerElement) / 16) * 16;
  }

  /** A zeroed array of `length` elements in the memory. */
  alloc<T>(Type: TypedArrayType<T>, length: number): T {
    const bytes = KernelArena.bytes(length, Type.BYTES_PER_ELEMENT);
    if (this.next + bytes > this.size) throw new Error(`kernel arena of ${this.size} bytes is full`);
    const array = new Type(this.memory.buffer, this.next, length);
    this.next += bytes;
    return array;
  }
}

/**
 * Stable partition of rows[start..end) in place by goLeft[bins[r * F + f]]: left rows first, then
 * right rows, each in order (scratch[start..end) holds the right rows meanwhile). Returns the
 * number of left rows.
 */
export function partitionRows(
  rows: Int32Array,
  scratch: Int32Array,
  bins: Uint8Array,
  F: number,
  f: number,
  goLeft: Uint8Array,
  start: number,
  end: number,
): number {
  let nl = start;
  let nr = start;
  // Branch-free: the side a row goes to is a coin flip the CPU cannot predict.
  for (let i = start; i < end; i++) {
    const r = rows[i];
    const isLeft = goLeft[bins[r * F + f]];
    rows[nl] = r;
    scratch[nr] = r;
    nl += isLeft;
    nr += 1 - isLeft;
  }
  rows.set(scratch.subarray(start, nr), nl);
  return nl - start;
}

/**
 * From this many rows on, the learner keeps the rows in two regions, and a leaf with this many
 * rows has its second region's part handled on the helper thread when there is one. Below it a
 * hand-off (tens of µs) costs more than it saves.
 */
export const PARALLEL_MIN_ROWS = 1 << 15;

/** OP_SPLIT: after partitioning a half, build the histogram of its left rows, of its right rows. */
export const BUILD_NONE = 0;
export const BUILD_LEFT = 1;
export const BUILD_RIGHT = 2;

export interface RowKernelsOptions {
  layout: HistogramLayout;
  numRows: number;
  /** Row-major bins, bins[r * F + f]: copied into the kernels' memory (and encoded to group cells there). */
  bins: Uint8Array;
  /** Group histograms to hold (one per leaf). */
  numHistograms: number;
  /** Gradient / hessian arrays to hold (one pair per output). */
  numOutputs: number;
  /** Starting raw scores, row-major [numRows, numOutputs]: copied likewise. */
  scores?: Float64Array;
  /** Labels (for the binary objective's compiled gradients): copied likewise. */
  labels?: Float64Array;
  /** 1, or 2 for a helper thread. */
  threads: number;
  /** Whether halves will be handed off at all (large enough data). */
  parallel: boolean;
  /** Use the WebAssembly kernels when the arrays fit (false: the JavaScript ones, for tests). @default true */
  compiled?: boolean;
}

/**
 * The learner's row arrays and the loops over them. Arrays live in one WebAssembly memory when
 * they fit (shared with a helper thread when there is one), else in plain typed arrays with the
 * JavaScript loops. `histogram` and `partition` run here; `handOff*` start the same on the helper
 * and `awaitHelper` waits for it, so the learner can run one half while the helper runs the other.
 */
export class RowKernels {
  readonly bins: Uint8Array;
  readonly codes: Uint16Array;
  /** Row indices of the leaves, and the partition's scratch space. */
  readonly rows: Int32Array;
  readonly scratch: Int32Array;
  /** Gradients and hessians per output, for the caller to fill. */
  readonly grad: Float64Array[];
  readonly hess: Float64Array[];
  /** Raw scores, row-major [numRows, numOutputs] (empty unless given). */
  readonly scores: Float64Array;
  /** Labels (empty unless given). */
  readonly labels: Float64Array;
  /** Per 16 rows, the product of their likelihoods (the binary loss, as objective.ts's LogSum keeps it). */
  private readonly products: Float64Array;
  /** Group histograms, and the one the helper builds a second half into. */
  readonly hists: Float64Array[];
  readonly halfHist: Float64Array;
  /** Per bin of the feature being split on: 1 if the bin goes left. */
  readonly goLeft: Uint8Array;
  /** Used groups' indices and byte offsets within a histogram (for the kernel). */
  private readonly groupIndex: Int32Array;
  private readonly groupBase: Int32Array;
  private groups: Int32Array = new Int32Array(0);
  private readonly wasm: KernelExports | null;
  private helper: HelperThread | null = null;

  constructor(private readonly o: RowKernelsOptions) {
    const { layout, numRows: n, numOutputs: K } = o;
    const F = layout.numFeatures;
    const G = layout.numGroups;
    const cells = layout.groupOffsets[G] * HIST_STRIDE;
    const sizes: [TypedArrayType<unknown>, number][] = [
      [Uint8Array, n * F],
      [Uint16Array, n * G],
      [Int32Array, n],
      [Int32Array, n],
      ...Array.from({ length: 2 * K }, (): [TypedArrayType<unknown>, number] => [Float64Array, n]),
      [Float64Array, o.scores?.length ?? 0],
      [Float64Array, o.labels?.length ?? 0],
      [Float64Array, o.labels ? (n >> 4) + 1 : 0],
      ...Array.from({ length: o.numHistograms + 1 }, (): [TypedArrayType<unknown>, number] => [Float64Array, cells]),
      [Uint8Array, 256],
      [Int32Array, G],
      [Int32Array, G],
    ];
    const shared = o.threads > 1 && o.parallel;
    const arena =
      o.compiled === false
        ? null
        : KernelArena.create(
            sizes.reduce((sum, [Type, length]) => sum + KernelArena.bytes(length, Type.BYTES_PER_ELEMENT), 0),
            shared,
            Array.from({ length: G }, (_, g) => layout.groupOffsets[g] * HIST_STRIDE * 8),
          );
    const alloc = <T>(Type: TypedArrayType<T> & { new (length: number): T }, length: number): T =>
      arena ? arena.alloc(Type, length) : new Type(length);
    this.bins = alloc(Uint8Array, n * F);
    this.bins.set(o.bins.subarray(0, n * F));
    this.codes = encodeGroups(layout, this.bins, n, alloc(Uint16Array, n * G));
    this.rows = alloc(Int32Array, n);
    this.scratch = alloc(Int32Array, n);
    this.grad = Array.from({ length: K }, () => alloc(Float64Array, n));
    this.hess = Array.from({ length: K }, () => alloc(Float64Array, n));
    this.scores = alloc(Float64Array, o.scores?.length ?? 0);
    if (o.scores) this.scores.set(o.scores);
    this.labels = alloc(Float64Array, o.labels?.length ?? 0);
    if (o.labels) this.labels.set(o.labels);
    this.products = alloc(Float64Array, o.labels ? (n >> 4) + 1 : 0);
    this.hists = Array.from({ length: o.numHistograms }, () => alloc(Float64Array, cells));
    this.halfHist = alloc(Float64Array, cells);
    this.goLeft = alloc(Uint8Array, 256);
    this.groupIndex = alloc(Int32Array, G);
    this.groupBase = alloc(Int32Array, G);
    this.wasm = arena?.kernels ?? null;
    if (arena && shared) {
      this.helper = HelperThread.start(arena, {
        rows: this.rows.byteOffset,
        scratch: this.scratch.byteOffset,
        bins: this.bins.byteOffset,
        numFeatures: F,
        codes: this.codes.byteOffset,
        numGroups: G,
        halfHist: this.halfHist.byteOffset,
        goLeft: this.goLeft.byteOffset,
        groupIndex: this.groupIndex.byteOffset,
        groupBase: this.groupBase.byteOffset,
        scores: this.scores.byteOffset,
        labels: this.labels.byteOffset,
        products: this.products.byteOffset,
      });
    }
  }

  /** Whether histograms and partitions run as WebAssembly. */
  get compiled(): boolean {
    return this.wasm !== null;
  }

  /** Restricts histograms to these (ascending) groups. */
  setGroups(groups: Int32Array): void {
    this.groups = groups;
    const offsets = this.o.layout.groupOffsets;
    for (let j = 0; j < groups.length; j++) {
      this.groupIndex[j] = groups[j];
      this.groupBase[j] = offsets[groups[j]] * HIST_STRIDE * 8;
    }
  }

  /** hist ← the histogram of rows[start..end) over the used groups. */
  histogram(hist: Float64Array, start: number, end: number, grad: Float64Array, hess: Float64Array): void {
    const { layout } = this.o;
    clearHistogram(hist, layout, this.groups);
    const source = this.rows;
    if (this.wasm && this.groups.length === layout.numGroups) {
      this.wasm.histogramAll(
        source.byteOffset,
        start,
        end,
        this.codes.byteOffset,
        grad.byteOffset,
        hess.byteOffset,
        hist.byteOffset,
      );
    } else if (this.wasm) {
      this.wasm.histogram(
        source.byteOffset,
        start,
        end,
        this.codes.byteOffset,
        layout.numGroups,
        grad.byteOffset,
        hess.byteOffset,
        hist.byteOffset,
        this.groupIndex.byteOffset,
        this.groupBase.byteOffset,
        this.groups.length,
      );
    } else {
      buildHistogram(hist, layout, this.codes, this.groups, source, start, end, grad, hess);
    }
  }

  /** `partitionRows` of rows[start..end) by feature f and the goLeft table. */
  partition(f: number, start: number, end: number): number {
    const F = this.o.layout.numFeatures;
    if (this.wasm) {
      const { rows, scratch, bins, goLeft } = this;
      return this.wasm.partition(
        rows.byteOffset,
        scratch.byteOffset,
        bins.byteOffset,
        F,
        f,
        goLeft.byteOffset,
        start,
        end,
      );
    }
    return partitionRows(this.rows, this.scratch, this.bins, F, f, this.goLeft, start, end);
  }

  /** scores[rows[i] * numOutputs + k] += value for i in [start, end); `scores` is this.scores or another array. */
  addToScores(scores: Float64Array, numOutputs: number, k: number, start: number, end: number, value: number): void {
    const rows = this.rows;
    if (this.wasm && scores === this.scores) {
      this.wasm.addScores(rows.byteOffset, start, end, scores.byteOffset, numOutputs, k, value);
      return;
    }
    for (let i = start; i < end; i++) scores[rows[i] * numOutputs + k] += value;
  }

  /**
   * The binary objective's gradients and hessians at `scores` into grad[0] and hess[0], and the
   * mean log loss there: objective.ts's `gradients` for 'binary', to the bit, compiled. Null
   * when the kernels are not compiled or hold no labels (then use objective.ts).
   */
  binaryGradients(): number | null {
    const wasm = this.wasm;
    if (!wasm || this.labels.length === 0) return null;
    const n = this.o.numRows;
    const { scores, labels, products } = this;
    const [grad, hess] = [this.grad[0], this.hess[0]];
    const run = (start: number, end: number) =>
      wasm.binaryGradients(
        scores.byteOffset,
        labels.byteOffset,
        grad.byteOffset,
        hess.byteOffset,
        products.byteOffset,
        start,
        end,
      );
    // Rows are independent: any split gives the same numbers; the second half starts a block of 16.
    const mid = n >= PARALLEL_MIN_ROWS ? (n >> 5) << 4 : n;
    const handedOff = mid < n && (this.helper?.issue(OP_GRADIENTS, mid, n, grad, hess, 0, 0, 0) ?? false);
    run(0, mid);
    if (mid < n && (!handedOff || this.helper!.finish() === null)) run(mid, n);
    // LogSum.total(): the logs of the block products in order, the last (partial) block's last.
    const blocks = n >> 4;
    let sum = 0;
    for (let b = 0; b < blocks; b++) sum += Math.log(products[b]);
    const total = sum + Math.log(n & 15 ? products[blocks] : 1);
    return n ? -total / n : NaN;
  }

  /** Starts halfHist ← histogram of rows[start..end) on the helper; false if there is none ready. */
  handOffHistogram(start: number, end: number, grad: Float64Array, hess: Float64Array): boolean {
    if (!this.helper?.ready) return false;
    clearHistogram(this.halfHist, this.o.layout, this.groups);
    return this.helper.issue(OP_HISTOGRAM, start, end, grad, hess, this.groups.length, 0, BUILD_NONE);
  }

  /**
   * Starts on the helper the partition of rows[start..end) by feature f, then, per `build`, the
   * histogram (into halfHist) of that half's left or right rows; false if there is no helper ready.
   */
  handOffSplit(f: number, build: number, start: number, end: number, grad: Float64Array, hess: Float64Array): boolean {
    if (!this.helper?.ready) return false;
    if (build !== BUILD_NONE) clearHistogram(this.halfHist, this.o.layout, this.groups);
    return this.helper.issue(OP_SPLIT, start, end, grad, hess, this.groups.length, f, build);
  }

  /**
   * Waits for the work handed off and returns a split's left count, or returns null without
   * waiting if the helper had not started it yet: then the caller does it. Throws if the helper
   * failed.
   */
  awaitHelper(): number | null {
    return this.helper!.finish();
  }

  /** Stops the helper thread; everything then runs on the calling thread. */
  close(): void {
    this.helper?.close();
    this.helper = null;
  }
}

/** Threads to use when not told: 2 where there are 2 cores. */
export function defaultThreads(): number {
  return Math.min(2, availableParallelism());
}

/** Slots of the control block (an Int32Array on shared memory) between learner and helper. */
const SEQ = 0; // commands issued
const DONE = 1; // commands finished
const STATE = 2;
const OP = 3;
const START = 4;
const END = 5;
const GRAD = 6;
const HESS = 7;
const NUM_USED = 8;
const FEATURE = 9;
const BUILD = 10;
const RESULT = 11;
/** The sequence number of the command while nobody has claimed it; 0 once claimed. */
const TICKET = 12;
const CONTROL_SLOTS = 13;
const OP_HISTOGRAM = 1;
const OP_SPLIT = 2;
const OP_GRADIENTS = 3;
const OP_EXIT = 4;
const STATE_READY = 1;
const STATE_FAILED = 2;
/** A half takes milliseconds; no answer in this long means the helper is gone. */
const HELPER_TIMEOUT_MS = 60_000;

/** Byte offsets of the arrays the helper works on (all in the arena). */
interface HelperPointers {
  rows: number;
  scratch: number;
  bins: number;
  numFeatures: number;
  codes: number;
  numGroups: number;
  halfHist: number;
  goLeft: number;
  groupIndex: number;
  groupBase: number;
  scores: number;
  labels: number;
  products: number;
}

/** The helper's program: instantiate the kernels on the shared memory, then run commands. */
const HELPER_SOURCE = `'use strict';
const { workerData } = require('node:worker_threads');
const { control, module, memory, p } = workerData;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
let seen = 0;
Atomics.store(control, ${STATE}, ${STATE_READY});
for (;;) {
  Atomics.wait(control, ${SEQ}, seen);
  seen = Atomics.load(control, ${SEQ});
  const op = control[${OP}];
  if (op === ${OP_EXIT}) break;
  // The learner takes the command back when it gets to it first.
  if (Atomics.compareExchange(control, ${TICKET}, seen, 0) !== seen) continue;
  try {
    const start = control[${START}];
    const end = control[${END}];
    const histogram = (source, from, to) => control[${NUM_USED}] === p.numGroups
      ? k.histogramAll(source, from, to, p.codes, control[${GRAD}], control[${HESS}], p.halfHist)
      : k.histogram(source, from, to, p.codes, p.numGroups, control[${GRAD}], control[${HESS}], p.halfHist,
          p.groupIndex, p.groupBase, control[${NUM_USED}]);
    if (op === ${OP_HISTOGRAM}) histogram(p.rows, start, end);
    else if (op === ${OP_GRADIENTS}) {
      k.binaryGradients(p.scores, p.labels, control[${GRAD}], control[${HESS}], p.products, start, end);
    } else {
      const nl = k.partition(p.rows, p.scratch, p.bins, p.numFeatures, control[${FEATURE}], p.goLeft, start, end);
      control[${RESULT}] = nl;
      if (control[${BUILD}] === ${BUILD_LEFT}) histogram(p.rows, start, start + nl);
      if (control[${BUILD}] === ${BUILD_RIGHT}) histogram(p.rows, start + nl, end);
    }
  } catch (error) {
    Atomics.store(control, ${STATE}, ${STATE_FAILED});
  }
  Atomics.store(control, ${DONE}, seen);
  Atomics.notify(control, ${DONE});
}
`;

/**
 * A worker thread running the kernels on the learner's shared memory. Hand-offs are synchronous,
 * through Atomics on a control block, so training stays a plain loop. Until the thread has booted
 * the learner does both halves itself.
 */
class HelperThread {
  private readonly control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
  private readonly worker: Worker;
  private issued = 0;
  private alive = true;

  private constructor(arena: KernelArena, p: HelperPointers) {
    this.worker = new Worker(HELPER_SOURCE, {
      eval: true,
      workerData: { control: this.control, module: arena.module, memory: arena.memory, p },
    });
    // An unclosed learner must not keep a script from exiting.
    this.worker.unref();
    this.worker.on('error', () => (this.alive = false));
  }

  static start(arena: KernelArena, p: HelperPointers): HelperThread | null {
    try {
      return new HelperThread(arena, p);
    } catch {
      return null;
    }
  }

  /** Whether the helper has booted and not failed: ready to take a command. */
  get ready(): boolean {
    return this.alive && Atomics.load(this.control, STATE) === STATE_READY;
  }

  /** Starts a command; false if the helper is not (yet, or any more) there to take it. */
  issue(
    op: number,
    start: number,
    end: number,
    grad: Float64Array,
    hess: Float64Array,
    numUsed: number,
    feature: number,
    build: number,
  ): boolean {
    if (!this.ready) return false;
    const c = this.control;
    c[OP] = op;
    c[START] = start;
    c[END] = end;
    c[GRAD] = grad.byteOffset;
    c[HESS] = hess.byteOffset;
    c[NUM_USED] = numUsed;
    c[FEATURE] = feature;
    c[BUILD] = build;
    this.issued++;
    Atomics.store(c, TICKET, this.issued);
    Atomics.store(c, SEQ, this.issued);
    Atomics.notify(c, SEQ);
    return true;
  }

  /**
   * Takes the command back if the helper has not claimed it (null: the caller runs it), else
   * waits for it and returns its result. Throws if it failed. On a busy machine the helper may
   * not get a core for a while; the caller never sits idle waiting for it to start.
   */
  finish(): number | null {
    if (Atomics.compareExchange(this.control, TICKET, this.issued, 0) === this.issued) return null;
    const deadline = Date.now() + HELPER_TIMEOUT_MS;
    for (;;) {
      const done = Atomics.load(this.control, DONE);
      if (done === this.issued) break;
      if (Date.now() > deadline) throw new Error('the GBDT helper thread stopped answering');
      Atomics.wait(this.control, DONE, done, 100);
    }
    // A failed half may have moved rows already: it cannot be redone.
    if (Atomics.load(this.control, STATE) === STATE_FAILED) throw new Error('the GBDT helper thread failed');
    return this.control[RESULT];
  }

  close(): void {
    if (!this.alive) return;
    this.alive = false;
    this.control[OP] = OP_EXIT;
    Atomics.store(this.control, SEQ, ++this.issued);
    Atomics.notify(this.control, SEQ);
    void this.worker.terminate();
  }
}
