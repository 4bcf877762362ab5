import { isTerminal, type StepState } from '@agentyard/core';
import { runPointerPath, type ArchiveTarget, type EventArchive } from './run-archive';
import type { StoredRun } from './run-codec';
import type { EndTail, RunStore } from './run-store';

export interface RunFinalizer {
  /**
   * For a run in a terminal status: marks steps that will never run, archives the run
   * into its workspace, emits the single `end` event, archives that too, and starts the
   * run's retention. Safe to call more than once and from any process; only the first call
   * that finds the run not ended does anything. `known`: the run as the caller just wrote it
   * and its events not archived yet (a finish script hands both back), which spares a read,
   * and the early flush when no complete segment is waiting.
   */
  finalize(runId: string, known?: { run: StoredRun; unarchived: number }): Promise<boolean>;
  /** Gives every step that has not finished the status `skipped` or `cancelled`. */
  settleSteps(run: StoredRun, phase: 'skipped' | 'cancelled'): Promise<void>;
  /**
   * Writes the archives that could not be written when their runs ended (storage was down),
   * up to `limit` of them. Stops at the first failure: the store is likely still down.
   */
  retryArchives(limit?: number): Promise<{ archived: number; pending: boolean }>;
}

export function createRunFinalizer(opts: {
  store: RunStore;
  archive: EventArchive;
  archiveTarget(run: StoredRun): ArchiveTarget;
  /** The tenant's root, for the pointer of a run in a shared workspace (runPointerPath). */
  pointerTarget?(tenant: string): ArchiveTarget;
  /** How long Redis keeps an ended run once its archive is complete; 0 keeps it. */
  retentionMs: number;
  onArchiveError?(runId: string, err: unknown): void;
  onEnded?(run: StoredRun): void;
  now?: () => number;
}): RunFinalizer {
  const { store, archive } = opts;
  const now = opts.now ?? Date.now;

  const settleSteps = async (run: StoredRun, phase: 'skipped' | 'cancelled') => {
    const open = (s: StepState | undefined) => !s || s.status === 'pending' || s.status === 'running' || s.status === 'awaiting_approval';
    const at = new Date(now()).toISOString();
    for (const step of [...run.doc.steps, ...run.dynamicSteps]) {
      const s = run.steps[step.id];
      if (!open(s)) continue;
      const attempts = s?.attempts ?? 0;
      // A dynamic step keeps its spec (tool, args, order) next to its state.
      const record = 'order' in step ? { ...step, ...(s ?? {}) } : { ...(s ?? {}) };
      await store.checkpoint(
        run.doc.id,
        step.id,
        { ...record, status: phase, attempts, finished_at: at },
        { event: { step_id: step.id, tool: step.tool, phase, attempt: attempts } },
      );
    }
  };

  /** run.json, and for a run in a shared workspace the pointer that finds it by id. */
  const writeRecord = async (run: StoredRun, target: ArchiveTarget) => {
    await archive.writeRecord(run, target);
    if (opts.pointerTarget && run.doc.workspace_id !== run.doc.id) {
      await opts.pointerTarget(run.doc.tenant).write(runPointerPath(run.doc.id), JSON.stringify({ workspace_id: run.doc.workspace_id }), { contentType: 'application/json' });
    }
  };

  /** The last part of the archive: every event up to `end`, then retention starts. */
  const complete = async (run: StoredRun, o: { record: boolean; tail?: EndTail }) => {
    const target = opts.archiveTarget(run);
    if (o.record) await writeRecord(run, target);
    if (o.tail) await archive.finish(run.doc.id, target, o.tail);
    else await archive.flush(run.doc.id, target, { final: true });
    await store.archived(
      run.doc.id,
      {
        workspace_id: run.doc.workspace_id,
        status: run.status,
        created_at: run.doc.created_at,
        ...(run.finished_at ? { finished_at: run.finished_at } : {}),
      },
      opts.retentionMs,
    );
  };

  return {
    settleSteps,
    async retryArchives(limit = 10) {
      const ids = await store.takeArchivePending(limit);
      let archived = 0;
      for (let i = 0; i < ids.length; i++) {
        const run = await store.get(ids[i]!);
        // Gone, or retried since: its next end writes the archive.
        if (!run || !run.ended) continue;
        try {
          await complete(run, { record: true });
          archived += 1;
        } catch (err) {
          await store.markArchivePending(ids.slice(i));
          opts.onArchiveError?.(ids[i]!, err);
          return { archived, pending: true };
        }
      }
      return { archived, pending: ids.length === limit };
    },
    async finalize(runId, known) {
      const run = known?.run ?? (await store.get(runId));
      if (!run || !isTerminal(run.status) || run.ended) return false;
      let settled = run;
      if (run.status !== 'succeeded') {
        await settleSteps(run, run.status === 'cancelled' ? 'cancelled' : 'skipped');
        settled = (await store.get(runId)) ?? run;
      }
      // The record and the events so far go first, so a client that sees `end` finds them.
      let archived = true;
      try {
        const target = opts.archiveTarget(settled);
        await writeRecord(settled, target);
        // Only complete segments go before `end`; none is waiting when fewer events are.
        if (!known || settled !== run || known.unarchived >= archive.segment) await archive.flush(runId, target);
      } catch (err) {
        archived = false;
        opts.onArchiveError?.(runId, err);
      }
      const tail = await store.endWithTail(runId, archive.segment);
      if (!tail) return false;
      // `end` itself, and the start of retention, which waits for a complete archive: a run
      // is never forgotten by Redis before its history is safe in the workspace. When storage
      // is down the run ends all the same (clients are not kept waiting) and retryArchives
      // finishes the archive later. Marked only once ended, so a sweep cannot skip it.
      if (archived) {
        try {
          await complete(settled, { record: false, tail });
        } catch (err) {
          archived = false;
          opts.onArchiveError?.(runId, err);
        }
      }
      if (!archived) await store.markArchivePending([runId]).catch(() => undefined);
      opts.onEnded?.(settled);
      return true;
    },
  };
}
