/**
 * The soak's judgement of one sampled series (pure, so tests/scripts/soak-slope.test.ts can
 * show that it calls a leak a leak and noise noise). See scripts/bench/soak.js for why 10 %.
 */
/** Growth judged against this fraction of the series' mean per hour (see scripts/bench/soak.js). */
const GROWTH_PER_HOUR = 0.1;

/** Least-squares slope of y over x (seconds), per hour, with its standard error. */
function slopePerHour(points) {
  const n = points.length;
  if (n < 3) return { slope: 0, se: Infinity };
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  if (sxx === 0) return { slope: 0, se: Infinity };
  const b = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
  const a = my - b * mx;
  const rss = points.reduce((s, p) => s + (p.y - a - b * p.x) ** 2, 0);
  const se = Math.sqrt(rss / (n - 2) / sxx);
  return { slope: b * 3600, se: se * 3600 };
}

/**
 * The figures and verdict of one series over the samples after the warm-up. `floor` is the
 * least growth per hour judged (for small counts, where 10 % of 7 handles is below a single
 * handle coming and going with the requests in flight). Verdicts: `grows` (a climb), `stepped`
 * (grew by the whole window's fit, but its second half rises at less than half the threshold:
 * it rose and held, not a leak),
 * `flat`, `inconclusive`.
 */
function judge(samples, key, warmupS, floor = 0) {
  const all = samples.filter((s) => s[key] !== undefined);
  const after = all.filter((s) => s.t >= warmupS);
  const ys = after.map((s) => s[key]);
  const mean = ys.reduce((a, b) => a + b, 0) / (ys.length || 1);
  const { slope, se } = slopePerHour(after.map((s) => ({ x: s.t, y: s[key] })));
  const limit = Math.max(GROWTH_PER_HOUR * mean, floor, 1e-9);
  // A leak under a steady load climbs for as long as the load lasts, so its second half rises
  // too. A series that rose and then held (V8 sizing its heap up once, a pool filling) fits a
  // positive line over the whole window as well: its second half, rising at less than half the
  // threshold, tells it apart. Simulated over 30 minutes of ±5 % noise (2,000 tries each): a
  // leak at the threshold is taken for a step 4 % of the time, at twice it 0.2 %; a step of
  // +15 % is called a step 86 % of the time and growth otherwise (the safe side).
  const half = after.length ? (after[0].t + after.at(-1).t) / 2 : 0;
  const late = slopePerHour(after.filter((s) => s.t >= half).map((s) => ({ x: s.t, y: s[key] })));
  const rising = slope > limit && slope > 3 * se;
  const verdict = rising ? (late.slope < limit / 2 ? 'stepped' : 'grows') : 3 * se <= limit ? 'flat' : 'inconclusive';
  return {
    verdict,
    slope_per_hour: round(slope),
    slope_se_per_hour: round(se),
    second_half_slope_per_hour: round(late.slope),
    threshold_per_hour: round(limit),
    mean_after_warmup: round(mean),
    first: all[0]?.[key],
    first_after_warmup: after[0]?.[key],
    last: all.at(-1)?.[key],
    min_after_warmup: ys.length ? Math.min(...ys) : undefined,
    max_after_warmup: ys.length ? Math.max(...ys) : undefined,
  };
}

const round = (n, d = 1) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);

module.exports = { slopePerHour, judge, round, GROWTH_PER_HOUR };
