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
