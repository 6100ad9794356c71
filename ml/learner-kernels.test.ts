import { describe, expect, it } from 'vitest';
import { binColumns, fitCategoricalBins, fitNumericBins, totalBinCount, type BinMapper } from './binning';
import { binaryDataset } from './fixtures/synthetic';
import { createHistogramLayout } from './histogram';
import { KernelArena, PARALLEL_MIN_ROWS, RowKernels } from './learner-kernels';
import { createObjective } from './objective';
import { createRng } from './random';
import type { Column } from './table';
import { TreeLearner, type TreeConfig } from './tree';

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.prototype.every.call(a, (x: number, i: number) => Object.is(x, b[i]));

describe('compiled kernels against the JavaScript they replace', () => {
  it('exp is Math.exp to the bit', () => {
    const { exp } = KernelArena.create(1 << 16, false, [0])!.kernels;
    const rng = createRng(5);
    const xs = [0, -0, 1, -1, 2 ** -29, -(2 ** -28), 0.3465, 1.0397, 709.78, 709.79, -745.13, -745.14];
    xs.push(Infinity, -Infinity, NaN);
    for (let i = 0; i < 200_000; i++) xs.push((rng.next() - 0.5) * [1500, 40, 2, 1e-6][i % 4]);
    const mismatches = xs.filter((x) => !Object.is(exp(x), Math.exp(x)));
    expect(mismatches).toEqual([]);
  });

  it("computes the binary objective's gradients and loss to the bit, on one thread and two", async () => {
    const layout = createHistogramLayout([2]);
    for (const n of [1, 16, 37, PARALLEL_MIN_ROWS + 21]) {
      const rng = createRng(n);
      const scores = Float64Array.from({ length: n }, (_, i) => (i % 97 === 0 ? -800 : (rng.next() - 0.5) * 20));
      const labels = Float64Array.from({ length: n }, () => (rng.next() < 0.3 ? 1 : 0));
      const grad = [new Float64Array(n)];
      const hess = [new Float64Array(n)];
      const loss = createObjective('binary').gradients(scores, labels, grad, hess);
      for (const threads of [1, 2]) {
        const bins = new Uint8Array(n);
        const kernels = new RowKernels({
          layout,
          numRows: n,
          bins,
          numHistograms: 2,
          numOutputs: 1,
          threads,
          parallel: true,
          scores,
          labels,
        });
        // Give a helper thread the time to boot, so it takes its half.
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(kernels.binaryGradients()).toBe(loss);
        expect(sameBits(kernels.grad[0], grad[0])).toBe(true);
        expect(sameBits(kernels.hess[0], hess[0])).toBe(true);
        kernels.close();
      }
    }
  });

  it('grows the same trees compiled as in JavaScript, on one thread and two', async () => {
    const data = binaryDataset(PARALLEL_MIN_ROWS * 2 + 11, 9);
    const n = data.numRows;
    const features = data.columns.filter((c) => c.name !== 'y');
    const mappers: BinMapper[] = features.map((c: Column) =>
      c.kind === 'numeric' ? fitNumericBins(c.values) : fitCategoricalBins(c.codes, c.dictionary.length),
    );
    const bins = binColumns(
      features,
      features.map((c) => ({ ...c, categories: c.kind === 'categorical' ? c.dictionary : undefined })),
      mappers,
      n,
    );
    const layout = createHistogramLayout(mappers.map(totalBinCount));
    // x1 (256 bins) and city (13) share a histogram group.
    expect(layout.numGroups).toBeLessThan(features.length);
    const cfg: TreeConfig = {
      numLeaves: 31,
      maxDepth: -1,
      learningRate: 0.1,
      lambdaL2: 0,
      minDataInLeaf: 20,
      minSumHessianInLeaf: 1e-3,
      minGainToSplit: 0,
      maxCatToOnehot: 4,
      maxCatThreshold: 32,
      catSmooth: 10,
      catL2: 10,
      minDataPerGroup: 100,
    };
    const rng = createRng(3);
    const grad = Float64Array.from({ length: n }, () => rng.next() - 0.5);
    const hess = Float64Array.from({ length: n }, () => 0.1 + rng.next() * 0.15);
    const grow = async (compiled: boolean, threads: number, bag: Int32Array | null, used: Int32Array) => {
      const learner = new TreeLearner(bins, n, layout, mappers, cfg, { compiled, threads });
      await new Promise((resolve) => setTimeout(resolve, 50));
      learner.grad[0].set(grad);
      learner.hess[0].set(hess);
      const tree = learner.grow(0, bag, used);
      learner.close();
      return JSON.stringify(tree);
    };
    const all = Int32Array.of(0, 1, 2, 3);
    const bag = Int32Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 !== 1);
    for (const [rows, used] of [
      [null, all],
      [bag, Int32Array.of(0, 2)],
    ] as const) {
      const reference = await grow(false, 1, rows, used);
      expect(JSON.parse(reference).feature.length).toBe(30);
      expect(await grow(true, 1, rows, used)).toBe(reference);
      expect(await grow(true, 2, rows, used)).toBe(reference);
    }
  });
});
