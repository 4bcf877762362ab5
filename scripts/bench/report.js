/**
 * The bench's verdicts: each figure, its substrate counterpart, the ratio, and the issue's
 * target for it (pass/fail); figures without a target are shown for causes (CPU, commands).
 */
const r3 = (x) => Math.round(x * 1000) / 1000;

/** Rows of {figure, agentyard, substrate, ratio, target, pass, steal}. */
function verdicts(res) {
  const rows = [];
  const row = (figure, a, s, target, o = {}) => {
    const ratio = s && !o.absolute ? r3(a / s) : undefined;
    const pass = target ? (target.op === '>=' ? ratio >= target.x : target.op === '<=' ? (o.absolute ? a <= target.x : ratio <= target.x) : a === target.x) : undefined;
    rows.push({ figure, agentyard: a, substrate: s, ratio, target: target ? `${o.absolute ? '' : 'ratio '}${target.op} ${target.x}` : '', pass, steal_pct: o.steal ?? '' });
  };
  for (const [name, error] of Object.entries(res.failed_sections ?? {})) {
    rows.push({ figure: `section ${name} failed: ${error}`, agentyard: undefined, substrate: undefined, ratio: undefined, target: 'runs', pass: false, steal_pct: '' });
  }
  for (const d of Object.values(res.drain ?? {})) {
    const target = d.concurrency === 1 ? 0.5 : 0.3;
    row(`drain c=${d.concurrency} runs/s vs no-op BullMQ jobs/s`, d.agentyard.runs_per_s, d.bullmq.jobs_per_s, { op: '>=', x: target }, { steal: `${d.agentyard.steal_pct}/${d.bullmq.steal_pct}` });
    row(`drain c=${d.concurrency} worker CPU ms per run vs per job`, d.agentyard.worker_cpu_ms_per_run, d.bullmq.worker_cpu_ms_per_job);
    // The kernel's part (the archive's files and directories), which a JS profile does not show.
    if (d.agentyard.worker_sys_ms_per_run !== undefined) row(`drain c=${d.concurrency} worker kernel (sys) CPU ms per run`, d.agentyard.worker_sys_ms_per_run);
    row(`drain c=${d.concurrency} Redis commands per run vs per job`, d.agentyard.redis_commands_per_run, d.bullmq.redis_commands_per_job);
    if (d.agentyard.redis_cpu_ms_per_run !== undefined) row(`drain c=${d.concurrency} Redis CPU ms per run vs per job`, d.agentyard.redis_cpu_ms_per_run, d.bullmq.redis_cpu_ms_per_job);
  }
  if (res.drain_archive_floor) {
    row(`archive layout alone (5 dirs + 2 files, plain fs) kernel CPU ms per run on ${res.drain_archive_floor.workspace_dir}`, res.drain_archive_floor.sys_ms_per_run);
  }
  if (res.http) {
    const { agentyard: a, bare: b } = res.http;
    const steal = `${a.steal_pct}/${b.steal_pct}`;
    row('create+start req/s vs Express + queue.add', a.req_per_s, b.req_per_s, { op: '>=', x: 0.8 }, { steal });
    row('create+start p50 ms', a.p50_ms, b.p50_ms, undefined, { steal });
    row('create+start p99 ms', a.p99_ms, b.p99_ms, { op: '<=', x: 1.5 }, { steal });
    row('API CPU ms per request', a.cpu_ms_per_request, b.cpu_ms_per_request);
  }
  if (res.latency) {
    const l = res.latency;
    row('start -> first SSE event p99 ms vs add -> processor start', l.start_to_queued_event.p99_ms, l.raw_add_to_processor_start.p99_ms, { op: '<=', x: 1.5 });
    row('start -> first SSE event p50 ms', l.start_to_queued_event.p50_ms, l.raw_add_to_processor_start.p50_ms);
    row('start -> worker `running` event p99 ms', l.start_to_running_event.p99_ms, l.raw_add_to_processor_start.p99_ms);
    if (l.failed_starts !== undefined) row('starts refused or failed', l.failed_starts, undefined, { op: '==', x: 0 }, { absolute: true });
  }
  if (res.fanout) {
    const { agentyard: a, bare: b } = res.fanout;
    const steal = `${a.steal_pct}/${b.steal_pct}`;
    row(`SSE fan-out ${a.clients} clients publish->receive p99 ms`, a.p99_ms, b.p99_ms, { op: '<=', x: 1.2 }, { steal });
    row('SSE fan-out p50 ms', a.p50_ms, b.p50_ms, undefined, { steal });
    row('SSE fan-out server RSS MB', a.rss_mb, b.rss_mb, { op: '<=', x: 1.3 }, { steal });
    row('SSE RSS KB per connected client (after a full GC)', a.rss_kb_per_client, b.rss_kb_per_client, { op: '<=', x: 1.3 });
    if (a.rss_kb_per_client_no_gc !== undefined) row('SSE RSS KB per connected client, no GC first', a.rss_kb_per_client_no_gc, b.rss_kb_per_client_no_gc);
    if (a.heap_kb_per_client !== undefined) row('SSE JS heap KB per connected client (after a full GC)', a.heap_kb_per_client, b.heap_kb_per_client);
    row('SSE events lost', a.lost, b.lost, { op: '==', x: 0 }, { absolute: true });
    row('SSE connect all clients ms', a.connect_all_ms, b.connect_all_ms);
    row('SSE server CPU ms over the publishing', a.cpu_ms_publishing, b.cpu_ms_publishing);
  }
  if (res.recovery) {
    // BullMQ alone: lock + 2 x stall interval at our defaults (8 s + 2 x 5 s).
    row('kill -9 -> step restarted, worst of tries (ms)', res.recovery.worst_kill_to_step_restarted_ms, 18000, { op: '<=', x: 10000 }, { absolute: true });
    row('kill -9 -> run done, worst of tries (ms)', res.recovery.worst_kill_to_run_done_ms, undefined);
  }
  if (res.soak) {
    const k = res.soak;
    row(`soak ${k.minutes} min: series growing (RSS, heap, fds, handles, listing, used_memory less the files ledger)`, k.growing.length, undefined, { op: '==', x: 0 }, { absolute: true });
    row(`soak ${k.minutes} min: runs not succeeded of ${k.runs_created}`, k.runs_not_succeeded + k.create_failures, undefined, { op: '==', x: 0 }, { absolute: true });
    const kb = (b) => Math.round(b / 1024);
    for (const s of ['api_rss', 'worker_rss', 'redis_used_memory_less_ledger', 'redis_listing_bytes']) row(`soak ${s} slope KB/h (threshold ${kb(k.series[s].threshold_per_hour)})`, kb(k.series[s].slope_per_hour));
    row(`soak Redis listing bytes per listed run (${k.max_listed_runs} kept, max_listed_runs)`, k.listing_bytes_per_listed_run);
    row('soak Redis workspace-files ledger bytes per file kept', k.ws_files_ledger_bytes_per_file);
  }
  return rows;
}

function markdown(rows) {
  const head = '| figure | Agentyard | substrate | ratio | target | pass | steal % (a/s) |\n|---|---:|---:|---:|---|---|---|';
  const fmt = (v) => (v === undefined ? '' : String(v));
  return [head, ...rows.map((r) => `| ${r.figure} | ${fmt(r.agentyard)} | ${fmt(r.substrate)} | ${fmt(r.ratio)} | ${r.target} | ${r.pass === undefined ? '' : r.pass ? 'pass' : 'FAIL'} | ${r.steal_pct} |`)].join('\n');
}

module.exports = { verdicts, markdown };
