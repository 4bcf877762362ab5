import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

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
  const bytes = randomBytes(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[bytes[i]! % 32];
  return `run_${time}${rand}`;
}

export const RUN_ID_PATTERN = /^run_[0-9a-z]{26}$/;
