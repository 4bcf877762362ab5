import { isTerminal } from '@agentyard/core';
import type { EventLog } from '@agentyard/events';
import { archiveRun, type ArchiveTarget } from './run-archive';
import type { StoredRun } from './run-codec';
import type { StepState } from '@agentyard/core';
import type { RunStore } from './run-store';

export interface RunFinalizer {
  /**
   * For a run in a terminal status: marks steps that will never run, archives the run
   * into its workspace, then emits the single `end` event. Safe to call more than once
   * and from any process; only the first call does anything.
   */
  finalize(runId: string): Promise<boolean>;
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
  events: EventLog;
  archiveTarget(run: StoredRun): ArchiveTarget;
  onArchiveError?(runId: string, err: unknown): void;
  onEnded?(run: StoredRun): void;
  now?: () => number;
}): RunFinalizer {
  const { store, events } = opts;
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
          await archiveRun(run, events, opts.archiveTarget(run));
          archived += 1;
        } catch (err) {
          await store.markArchivePending(ids.slice(i));
          opts.onArchiveError?.(ids[i]!, err);
          return { archived, pending: true };
        }
      }
      return { archived, pending: ids.length === limit };
    },
    async finalize(runId) {
      const run = await store.get(runId);
      if (!run || !isTerminal(run.status) || run.ended) return false;
      let settled = run;
      if (run.status !== 'succeeded') {
        await settleSteps(run, run.status === 'cancelled' ? 'cancelled' : 'skipped');
        settled = (await store.get(runId)) ?? run;
      }
      // Archive before `end`, so a client that sees `end` finds the archive in place.
      // events.jsonl therefore holds every event but `end`; run.json has the final status.
      let archived = true;
      try {
        await archiveRun(settled, events, opts.archiveTarget(settled));
      } catch (err) {
        archived = false;
        opts.onArchiveError?.(runId, err);
      }
      if (!(await store.end(runId))) return false;
      // The run ends now all the same (clients are not kept waiting on storage); its archive is
      // written later by retryArchives, and then also holds `end`. Marked only once ended, so
      // a sweep cannot take it first and skip it as not ended yet.
      if (!archived) await store.markArchivePending([runId]).catch(() => undefined);
      opts.onEnded?.(settled);
      return true;
    },
  };
}
