import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

// Random bytes are drawn 4 KB at a time (the CSPRNG's, as randomBytes draws them): a
// randomBytes(16) per id was 1.6 % of the API's CPU under create+start load.
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

/**
 * Run ids sort by creation time (10 chars of milliseconds in Crockford base32) and carry
 * 80 random bits, so ids are unguessable and never collide across API processes.
 */
export function newRunId(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (poolAt + 16 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[pool[poolAt++]! % 32];
  return `run_${time}${rand}`;
}

export const RUN_ID_PATTERN = /^run_[0-9a-z]{26}$/;
