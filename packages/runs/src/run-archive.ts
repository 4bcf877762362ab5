import type { EventLog } from '@agentyard/events';
import { stepView, type StoredRun } from './run-codec';

/** The narrow slice of a workspace the archive needs. */
export interface ArchiveTarget {
  write(path: string, body: string, opts?: { contentType?: string }): Promise<unknown>;
}

/**
 * Writes `.agent/run.json` and `.agent/events.jsonl` into the run's workspace so its
 * history outlives Redis retention. Only retained events can be written; the stream cap
 * bounds that.
 */
export async function archiveRun(run: StoredRun, events: EventLog, target: ArchiveTarget): Promise<void> {
  const lines: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await events.read(run.doc.id, { ...(after ? { after } : {}), limit: 1000 });
    for (const e of page) lines.push(JSON.stringify(e));
    if (page.length < 1000) break;
    after = page[page.length - 1]!.id;
  }
  const view = {
    ...run.doc,
    status: run.status,
    attempts: run.attempts,
    started_at: run.started_at,
    finished_at: run.finished_at,
    error: run.error,
    result: run.result,
    steps: run.doc.steps.map((s) => stepView(s, run.steps[s.id], false)),
  };
  await Promise.all([
    target.write('.agent/run.json', JSON.stringify(view, null, 2), { contentType: 'application/json' }),
    target.write('.agent/events.jsonl', lines.length ? `${lines.join('\n')}\n` : '', { contentType: 'application/x-ndjson' }),
  ]);
}
