import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { classify, observeJob, type ClassifyContext } from './job-state';

const ctx: ClassifyContext = { timeoutS: 30, memoryBytes: 256 * 1024 * 1024, pullGraceMs: 60_000, now: 100_000 };

const job = (conditions: { type: string; reason?: string }[] = []): V1Job => ({
  status: { conditions: conditions.map((c) => ({ status: 'True', ...c })) },
});
const pod = (s: { init?: object[]; containers?: object[]; reason?: string } = {}): V1Pod => ({
  metadata: { name: 'p-1', creationTimestamp: new Date(0) },
  status: { initContainerStatuses: s.init as never, containerStatuses: s.containers as never, ...(s.reason ? { reason: s.reason, message: 'low on memory' } : {}) },
});
const running = (name: string) => ({ name, state: { running: { startedAt: new Date() } } });
const ended = (name: string, exitCode: number, reason?: string) => ({ name, state: { terminated: { exitCode, ...(reason ? { reason } : {}) } } });
const waiting = (name: string, reason: string) => ({ name, state: { waiting: { reason } } });

describe('classify(observeJob(...))', () => {
  it.each([
    ['no pod yet', job(), [], {}, { kind: 'wait' }],
    ['the command running', job(), [pod({ containers: [running('run'), running('upload')] })], {}, { kind: 'wait' }],
    ['the upload done', job(), [pod({ containers: [ended('run', 3), ended('upload', 0)] })], {}, { kind: 'collect' }],
    ['the Job complete', job([{ type: 'Complete' }]), [], {}, { kind: 'collect' }],
    ['OOMKilled', job(), [pod({ containers: [ended('run', 137, 'OOMKilled'), running('upload')] })], {}, { kind: 'fail', code: 'exec_oom' }],
    ['a deadline after the command started', job([{ type: 'Failed', reason: 'DeadlineExceeded' }]), [pod({ containers: [ended('run', 137, 'Error')] })], {}, { kind: 'fail', code: 'exec_timeout' }],
    ['a deadline before it started', job([{ type: 'Failed', reason: 'DeadlineExceeded' }]), [pod({ init: [running('fetch')] })], {}, { kind: 'fail', code: 'executor_unavailable' }],
    ['an eviction', job(), [pod({ reason: 'Evicted', containers: [ended('run', 137, 'Error')] })], {}, { kind: 'fail', code: 'executor_unavailable' }],
    ['a failed upload', job(), [pod({ containers: [ended('run', 0), ended('upload', 22)] })], {}, { kind: 'fail', code: 'executor_unavailable' }],
    ['an image without sh', job(), [pod({ containers: [ended('run', 128, 'StartError')] })], {}, { kind: 'fail', code: 'executor_unavailable' }],
    ['a pull error within the grace', job(), [pod({ containers: [waiting('run', 'ImagePullBackOff')] })], { pullProblemSince: 90_000 }, { kind: 'wait' }],
    ['a pull error past the grace', job(), [pod({ containers: [waiting('run', 'ErrImagePull')] })], { pullProblemSince: 30_000 }, { kind: 'fail', code: 'executor_unavailable' }],
    ['a pull error of the transfer image', job(), [pod({ init: [waiting('fetch', 'ImagePullBackOff')] })], { pullProblemSince: 0 }, { kind: 'fail', code: 'executor_unavailable' }],
    ['another Job failure', job([{ type: 'Failed', reason: 'BackoffLimitExceeded' }]), [pod({ containers: [ended('run', 1), running('upload')] })], {}, { kind: 'fail', code: 'executor_unavailable' }],
  ])('%s', (_what, j, pods, extra, expected) => {
    const action = classify(observeJob(j, pods as V1Pod[]), { ...ctx, ...extra });
    const { code, ...rest } = expected as { kind: string; code?: string };
    expect(action).toMatchObject(rest);
    if (code) expect(action).toMatchObject({ error: { code } });
  });

  it('a Job that is gone is executor_unavailable', () => {
    expect(classify(observeJob(undefined, []), ctx)).toMatchObject({ kind: 'fail', error: { code: 'executor_unavailable', retryable: true } });
  });
});
