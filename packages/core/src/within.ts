export type Outcome = 'ok' | 'failed' | 'timeout';

/**
 * How `p` settled within `ms`: shutdown steps that talk to Redis or S3 are raced against a
 * deadline, because with Redis gone (refused or silent) their promises may never settle.
 */
export async function within(p: Promise<unknown>, ms: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, ms));
  });
  try {
    return await Promise.race([p.then((): Outcome => 'ok', (): Outcome => 'failed'), late]);
  } finally {
    clearTimeout(timer);
  }
}
