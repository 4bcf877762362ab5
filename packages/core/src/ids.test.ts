import { newRunId, RUN_ID_PATTERN } from './ids';

describe('newRunId', () => {
  it('sorts by time and does not repeat across refills of its random pool', () => {
    // 4 KB of pooled randomness is 256 ids: 1,000 ids cross three refills.
    const ids = Array.from({ length: 1000 }, (_, i) => newRunId(1_700_000_000_000 + i));
    for (const id of ids) expect(id).toMatch(RUN_ID_PATTERN);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.map((id) => id.slice(14))).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});
