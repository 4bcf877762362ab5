import type { ChildProcess } from 'node:child_process';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as unknown as { __redis?: ChildProcess; __s3rver?: { close(): Promise<void> } };
  await g.__s3rver?.close();
  g.__redis?.kill('SIGKILL');
}
