/**
 * What one run's history (GET /agent/logs) and what its SSE follower received say about it;
 * pure, so tests/scripts/chaos-checks.test.ts can show each figure counts what it claims.
 *
 * - rerunAfterSuccess: a step `started` again after it had `succeeded` (its checkpoint was
 *   lost or ignored: its side effects happened twice). Must be 0.
 * - cutOffAndRerun: a step `started` twice with nothing between (a fault cut it off before
 *   its checkpoint): allowed, at least once is the contract for unfinished steps.
 * - seqGaps: history entries whose seq is not their position (seq counts from 1 without gaps).
 * - lost / duplicated: history events the follower never got / got more than once.
 */
function checkRun(history, seen) {
  const r = { rerunAfterSuccess: [], cutOffAndRerun: 0, seqGaps: 0, lost: 0, duplicated: 0 };
  history.forEach((e, i) => e.seq !== i + 1 && (r.seqGaps += 1));
  const succeeded = new Set();
  const lastPhase = new Map();
  for (const e of history) {
    if (e.type !== 'step') continue;
    if (e.phase === 'started' && succeeded.has(e.step_id)) r.rerunAfterSuccess.push(e.step_id);
    else if (e.phase === 'started' && lastPhase.get(e.step_id) === 'started') r.cutOffAndRerun += 1;
    lastPhase.set(e.step_id, e.phase);
    if (e.phase === 'succeeded') succeeded.add(e.step_id);
  }
  // `reset` carries no seq of its own: it only says a replay restarts from the oldest entry.
  const got = seen.filter((g) => g.type !== 'reset').map((g) => g.seq);
  const seqs = new Set(got);
  r.lost = history.filter((e) => !seqs.has(e.seq)).length;
  r.duplicated = got.length - seqs.size;
  return r;
}

module.exports = { checkRun };
