import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkspace } from '@agentyard/workspace';
import { createOutputCapture, MAX_LINE_CHARS, type Stream } from './output-capture';

const tmpRoot = mkdtempSync(join(tmpdir(), 'ay-capture-test-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

function capture(outputBytes: number, fileBytes = 1024 * 1024) {
  const lines: Array<[Stream, string]> = [];
  const spoolParent = mkdtempSync(join(tmpRoot, 'spool-'));
  const cap = createOutputCapture({ limits: { outputBytes, fileBytes }, onOutput: (s, l) => lines.push([s, l]), tmpDir: spoolParent });
  return { cap, lines, spoolParent };
}

describe('output capture', () => {
  it('hands complete lines to onOutput across chunk boundaries, per stream, and the unfinished last line at finish', () => {
    const { cap, lines } = capture(1024);
    cap.write('stdout', 'hel');
    cap.write('stderr', 'warn: a\r\nwarn');
    cap.write('stdout', 'lo\nworld\nno newline');
    expect(lines).toEqual([
      ['stderr', 'warn: a'],
      ['stdout', 'hello'],
      ['stdout', 'world'],
    ]);
    const out = cap.finish();
    expect(lines.slice(3)).toEqual([
      ['stdout', 'no newline'],
      ['stderr', 'warn'],
    ]);
    expect(out).toEqual({ stdout: 'hello\nworld\nno newline', stderr: 'warn: a\r\nwarn', truncated: false, bytes: { stdout: 22, stderr: 13 } });
    cap.dispose();
  });

  it('does not split a multi-byte character that arrives in two chunks', () => {
    const { cap, lines } = capture(1024);
    const euro = Buffer.from('€\n');
    cap.write('stdout', euro.subarray(0, 2));
    cap.write('stdout', euro.subarray(2));
    cap.finish();
    expect(lines).toEqual([['stdout', '€']]);
  });

  it('streams a line that never ends in pieces', () => {
    const { cap, lines } = capture(1024);
    cap.write('stdout', 'x'.repeat(MAX_LINE_CHARS * 2 + 5));
    expect(lines.map(([, l]) => l.length)).toEqual([MAX_LINE_CHARS, MAX_LINE_CHARS]);
    cap.finish();
    expect(lines.map(([, l]) => l.length)).toEqual([MAX_LINE_CHARS, MAX_LINE_CHARS, 5]);
  });

  it('keeps the first outputBytes, cut on a whole character, and saves the whole stream to .agent/exec/<step>/<attempt>/', async () => {
    const { cap, spoolParent } = capture(10);
    const whole = `${'é'.repeat(5)}abc\n${'line\n'.repeat(1000)}`;
    for (let i = 0; i < whole.length; i += 7) cap.write('stdout', whole.slice(i, i + 7));
    cap.write('stderr', 'short');
    const out = cap.finish();
    // 'é' is two bytes: ten bytes are five whole characters.
    expect(out.stdout).toBe('ééééé');
    expect(out.stderr).toBe('short');
    expect(out.truncated).toBe(true);
    expect(out.bytes.stdout).toBe(Buffer.byteLength(whole));

    const ws = createWorkspace({ driver: 'fs', dir: join(tmpRoot, 'ws') });
    const files = await cap.save(ws, { stepId: 'build', attempt: 2 });
    expect(files).toEqual({ stdout_file: '.agent/exec/build/2/stdout.txt' });
    expect((await ws.read('.agent/exec/build/2/stdout.txt')).toString()).toBe(whole);
    cap.dispose();
    expect(readdirSync(spoolParent)).toEqual([]);
  });

  it('cuts a character that straddles the cap instead of returning half of it', () => {
    const { cap } = capture(5);
    cap.write('stdout', 'abcd€€');
    expect(cap.finish().stdout).toBe('abcd');
    cap.dispose();
  });

  it('stops spooling at fileBytes and says so at the end of the saved file', async () => {
    const { cap } = capture(4, 64);
    for (let i = 0; i < 100; i++) cap.write('stderr', '0123456789');
    cap.finish();
    const ws = createWorkspace({ driver: 'fs', dir: join(tmpRoot, 'ws-full') });
    const files = await cap.save(ws, { stepId: 's', attempt: 1 });
    const saved = (await ws.read(files.stderr_file!)).toString();
    expect(saved.startsWith('0123456789'.repeat(6) + '0123')).toBe(true);
    expect(saved).toMatch(/output beyond 64 bytes was discarded/);
    expect(saved.length).toBeLessThan(200);
    cap.dispose();
  });

  it('keeps nothing on disk when nothing was cut, and dispose without finish removes the spool', () => {
    const small = capture(100);
    small.cap.write('stdout', 'fits');
    small.cap.finish();
    expect(readdirSync(small.spoolParent)).toEqual([]);

    const big = capture(2);
    big.cap.write('stdout', 'longer than two');
    const [dir] = readdirSync(big.spoolParent);
    expect(existsSync(join(big.spoolParent, dir!, 'stdout.txt'))).toBe(true);
    big.cap.dispose();
    expect(readdirSync(big.spoolParent)).toEqual([]);
  });

  it('keeps capturing when the onOutput listener throws', () => {
    const cap = createOutputCapture({
      limits: { outputBytes: 100, fileBytes: 1000 },
      onOutput: () => {
        throw new Error('listener broke');
      },
    });
    cap.write('stdout', 'a\nb\n');
    expect(cap.finish().stdout).toBe('a\nb\n');
    cap.dispose();
  });
});
