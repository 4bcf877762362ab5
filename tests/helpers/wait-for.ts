/**
 * Poll until `fn` returns a truthy value; fail naming what never happened. Tests wait
 * with this, never with a bare sleep.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; label: string },
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms waiting for: ${opts.label} (last: ${why})`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/**
 * Poll for `forMs` that `fn` stays truthy; fail at once naming what happened. For showing
 * that something does NOT happen (a reconnect, a second request) within a bounded window.
 */
export async function holdsFor(
  fn: () => unknown | Promise<unknown>,
  opts: { forMs: number; intervalMs?: number; label: string },
): Promise<void> {
  const deadline = Date.now() + opts.forMs;
  for (;;) {
    if (!(await fn())) throw new Error(`within ${opts.forMs} ms this stopped holding: ${opts.label}`);
    if (Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}
