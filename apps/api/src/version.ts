import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The version from the api package.json, read once at start. */
export function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
