/**
 * The check the `deploy` step runs against every live serving instance before and after it moves traffic: one
 * version-pinned Open Inference Protocol request, over HTTP, as a client would send it.
 */

/** Why a smoke test failed: the instance, the version and what it answered. */
export class SmokeTestFailed extends Error {
  override readonly name = 'SmokeTestFailed';
}

export interface SmokeTestOptions {
  /** Base URL of the instance (its report's `url`). */
  url: string;
  model: string;
  version: number;
  /**
   * Input tensors to send (`[{ name, datatype, shape, data }]`). @default one row with every value missing (null),
   * built from the version's metadata: the model must answer it.
   */
  inputs?: unknown[];
  /** @default 5000 */
  timeoutMs?: number;
}

export interface SmokeTestResult {
  /** Round trip of the infer request. */
  latencyMs: number;
  /** The model version that answered (always the requested one). */
  version: number;
  outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[];
}

interface TensorMetadata {
  name: string;
  datatype: string;
}

/**
 * Sends `POST /v2/models/{model}/versions/{version}/infer` and checks the answer: status 200, the version asked for,
 * and finite outputs (probabilities in [0, 1]).
 *
 * @throws SmokeTestFailed naming the instance, the version and the problem
 * @example
 * for (const instance of await liveInstances(store)) {
 *   await smokeTest({ url: instance.url, model: 'flights-delay', version: 7 });
 * }
 */
export async function smokeTest(opts: SmokeTestOptions): Promise<SmokeTestResult> {
  const base = `${opts.url.replace(/\/$/, '')}/v2/models/${encodeURIComponent(opts.model)}/versions/${opts.version}`;
  const where = `${opts.model} v${opts.version} at ${opts.url}`;
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 5000);
  const call = async (url: string, init?: RequestInit) => {
    try {
      const res = await fetch(url, { ...init, signal });
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = text.slice(0, 300);
      }
      if (!res.ok) throw new SmokeTestFailed(`${where}: ${res.status} ${JSON.stringify(body).slice(0, 500)}`);
      return body as Record<string, unknown>;
    } catch (err) {
      if (err instanceof SmokeTestFailed) throw err;
      throw new SmokeTestFailed(`${where}: ${(err as Error).message}`);
    }
  };
  let inputs = opts.inputs;
  if (!inputs) {
    const meta = await call(base);
    inputs = (meta.inputs as TensorMetadata[]).map((i) => ({
      name: i.name,
      datatype: i.datatype,
      shape: [1, 1],
      data: [null],
    }));
  }
  const started = performance.now();
  const answer = await call(`${base}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: `smoke-${opts.version}`, inputs }),
  });
  const latencyMs = performance.now() - started;
  if (answer.model_version !== String(opts.version)) {
    throw new SmokeTestFailed(`${where}: answered by version ${String(answer.model_version)}`);
  }
  const outputs = answer.outputs as SmokeTestResult['outputs'];
  if (!Array.isArray(outputs) || !outputs.length) throw new SmokeTestFailed(`${where}: no outputs`);
  for (const o of outputs) {
    if (!o.data.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new SmokeTestFailed(`${where}: output "${o.name}" has non-finite values`);
    }
    if (o.name === 'probabilities' && !o.data.every((v) => (v as number) >= 0 && (v as number) <= 1)) {
      throw new SmokeTestFailed(`${where}: output "probabilities" outside [0, 1]`);
    }
  }
  return { latencyMs, version: opts.version, outputs };
}
