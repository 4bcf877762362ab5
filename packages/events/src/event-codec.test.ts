import fc from 'fast-check';
import { compareIds } from './event-codec';

const sign = (n: number) => Math.sign(n);
/** The reference: both parts as exact integers. */
function reference(a: string, b: string): number {
  const [am, an] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bn] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : an === bn ? 0 : an < bn ? -1 : 1;
}

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
// Small values too, so that equal and neighbouring parts come up often; and leading zeros,
// which a client's Last-Event-ID may carry (isEventId accepts them).
const part = fc.oneof(u64, fc.bigInt({ min: 0n, max: 20n })).chain((n) => fc.nat({ max: 2 }).map((z) => '0'.repeat(z) + n.toString()));
const id = fc.tuple(part, part).map(([m, n]) => `${m}-${n}`);

describe('compareIds', () => {
  it('orders stream ids as the integers they are, for any pair', () => {
    fc.assert(fc.property(id, id, (a, b) => sign(compareIds(a, b)) === reference(a, b)), { numRuns: 5000 });
  });

  it('compares the sequence part only when the milliseconds are equal, and exactly past 2^53', () => {
    expect(compareIds('1700000000000-10', '1700000000000-9')).toBeGreaterThan(0);
    expect(compareIds('1700000000000-0', '1700000000001-0')).toBeLessThan(0);
    expect(compareIds('999-5', '1000-0')).toBeLessThan(0);
    expect(compareIds('1-9007199254740993', '1-9007199254740992')).toBeGreaterThan(0);
    expect(compareIds('0017-3', '17-3')).toBe(0);
  });
});
