import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as unknown as { __redis?: ChildProcess; __s3rver?: { close(): Promise<void> }; __tmpDirs?: string[] };
  await g.__s3rver?.close();
  g.__redis?.kill('SIGKILL');
  for (const dir of g.__tmpDirs ?? []) rmSync(dir, { recursive: true, force: true });
}
