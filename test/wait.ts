/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** @default 60000 */
  timeoutMs?: number;
  /** Pause between probes. @default 250 */
  intervalMs?: number;
  /** Treat a probe that throws as "not yet" (a service still starting) instead of failing at once. @default false */
  retryErrors?: boolean;
}

/**
 * Probes until it returns something other than `undefined` or `false`, and resolves with that; rejects naming `what`
 * when the time is up. Free of vitest, so scripts such as record-histories.ts use it too.
 *
 * @example
 * const status = await waitFor('the first check', async () => (await query()).checks >= 1 && query());
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const value = await Promise.resolve()
      .then(probe)
      .catch((err: unknown) => {
        if (opts.retryErrors) return undefined;
        throw err;
      });
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}
