// eslint-disable-next-line @typescript-eslint/no-require-imports
const { judge, slopePerHour } = require('../../scripts/bench/slope');

/** A series sampled every 10 s for `minutes`, from `level`, growing by `perHour`, with +-`noise`. */
function series(minutes: number, level: number, perHour: number, noise: number) {
  let seed = 7;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  return Array.from({ length: (minutes * 60) / 10 + 1 }, (_, i) => ({ t: i * 10, y: level + (perHour * i * 10) / 3600 + noise * rand() }));
}

/** The soak's verdicts rest on these: a leak must be called one, noise must not. */
describe('soak slope', () => {
  it('measures a linear growth per hour', () => {
    const s = series(30, 100, 36, 0).map((p) => ({ x: p.t, y: p.y }));
    expect(slopePerHour(s).slope).toBeCloseTo(36, 6);
  });

  it('calls 20 % per hour growth under GC-like noise over 30 minutes a growth', () => {
    expect(judge(series(30, 200e6, 40e6, 5e6), 'y', 180).verdict).toBe('grows');
  });

  it('calls the same noise without growth flat over 30 minutes', () => {
    const j = judge(series(30, 200e6, 0, 5e6), 'y', 180);
    expect(j.verdict).toBe('flat');
    expect(Math.abs(j.slope_per_hour)).toBeLessThan(j.threshold_per_hour);
  });

  it('calls 3 minutes of the same noise inconclusive rather than flat or growing', () => {
    expect(judge(series(3, 200e6, 0, 5e6), 'y', 60).verdict).toBe('inconclusive');
  });

  it('judges small counts from the floor up: one handle coming and going is flat', () => {
    const handles = series(30, 7, 0, 0).map((p, i) => ({ ...p, y: 7 + (i % 3 === 0 ? 1 : 0) }));
    expect(judge(handles, 'y', 180, 5).verdict).toBe('flat');
    const leak = handles.map((p) => ({ ...p, y: p.y + Math.floor(p.t / 60) }));
    expect(judge(leak, 'y', 180, 5).verdict).toBe('grows');
  });

  it('tells a heap that stepped up once and held from one that keeps climbing', () => {
    // 200 MB, one step of +30 MB ten minutes in, then level: a line through it rises.
    const stepped = series(30, 200e6, 0, 5e6).map((p) => ({ ...p, y: p.y + (p.t >= 600 ? 30e6 : 0) }));
    const j = judge(stepped, 'y', 180);
    expect(j.slope_per_hour).toBeGreaterThan(j.threshold_per_hour);
    expect(j.verdict).toBe('stepped');
    // The same step on top of a 20 %/h climb is still a climb.
    const climbing = series(30, 200e6, 40e6, 5e6).map((p) => ({ ...p, y: p.y + (p.t >= 600 ? 30e6 : 0) }));
    expect(judge(climbing, 'y', 180).verdict).toBe('grows');
  });
});

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { judgeSoak } = require('../../scripts/bench/soak');

/** A saved soak of 30 minutes, every series flat unless `vary` says otherwise. */
function soakRecord(vary: (t: number) => Record<string, number>) {
  const samples = Array.from({ length: 181 }, (_, i) => {
    const t = i * 10;
    const wobble = (i % 6) * 1e5; // a small sawtooth, as GC leaves it
    return {
      t, api_rss: 200e6 + wobble, worker_rss: 200e6 + wobble, api_heap_used: 40e6 + wobble, worker_heap_used: 40e6 + wobble,
      api_heap_old: 20e6 + wobble, worker_heap_old: 20e6 + wobble, api_fds: 28, worker_fds: 28, api_handles: 6, worker_handles: 6,
      api_resources: 8, worker_resources: 8, api_sse_clients: 1, redis_used_memory: 5e6, redis_used_memory_less_ledger: 5e6,
      redis_listing_bytes: 9e5, redis_ws_files_bytes: 1e5, workspace_files: 100, redis_keys: 450, bull_events_stream_len: 10_000,
      runs_in_retention: 100, ...vary(t),
    };
  });
  return {
    sample_log: samples, samples_under_load: samples.length, minutes: 30, rate_per_s: 10, retention_s: 10, reconcile_s: 2,
    sample_s: 10, max_listed_runs: 2000, create_failures: 0, runs_not_succeeded: 0, runs_created: 18_000, runs_ended: { succeeded: 18_000 },
  };
}

describe('soak verdict', () => {
  it('passes a young generation that V8 sizes up, and fails a leak into the old generation', () => {
    // The whole heap's floor climbs (the young generation grows) while the old generation holds.
    const sized = judgeSoak(soakRecord((t) => ({ api_heap_used: 40e6 + t * 10_000 })));
    expect(sized.series.api_heap_floor.verdict).toBe('grows');
    expect(sized.series.api_heap_old_floor.verdict).toBe('flat');
    expect(sized.verdict.startsWith('pass')).toBe(true);
    // 5 MB per hour retained into the old generation: a leak, and the soak fails on it.
    const leak = judgeSoak(soakRecord((t) => ({ api_heap_old: 20e6 + (t * 5e6) / 3600 })));
    expect(leak.series.api_heap_old_floor.verdict).toBe('grows');
    expect(leak.growing).toContain('api_heap_old_floor');
    expect(leak.verdict).toBe('FAIL');
  });
});
