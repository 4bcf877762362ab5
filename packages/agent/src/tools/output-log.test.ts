import { createOutputLog } from './output-log';

describe('output log: a command’s lines as few log events, capped per step', () => {
  const collect = () => {
    const events: { level: string; message: string; stream: string; lines?: number }[] = [];
    return { events, sink: async (level: string, message: string, extra: { stream: string; lines?: number }) => void events.push({ level, message, ...extra }) };
  };

  it('gathers lines of one stream into batches, keeps order across streams, and names each stream', async () => {
    const { events, sink } = collect();
    const out = createOutputLog({ sink, maxLines: 1000, whereKept: 'files', batchLines: 3, flushMs: 10_000 });
    for (const l of ['a', 'b', 'c', 'd']) out.line('stdout', l);
    out.line('stderr', 'oops');
    out.line('stdout', 'e');
    await out.close();
    expect(events).toEqual([
      { level: 'info', message: 'a\nb\nc', stream: 'stdout', lines: 3 },
      { level: 'info', message: 'd', stream: 'stdout', lines: 1 },
      { level: 'warn', message: 'oops', stream: 'stderr', lines: 1 },
      { level: 'info', message: 'e', stream: 'stdout', lines: 1 },
    ]);
  });

  it('flushes a partial batch after flushMs, while the command still runs', async () => {
    const { events, sink } = collect();
    const out = createOutputLog({ sink, maxLines: 1000, whereKept: 'files', flushMs: 20 });
    out.line('stdout', 'early');
    await new Promise((r) => setTimeout(r, 60));
    expect(events.map((e) => e.message)).toEqual(['early']);
    await out.close();
  });

  it('streams at most maxLines, then one notice naming where the whole output is, then nothing', async () => {
    const { events, sink } = collect();
    const out = createOutputLog({ sink, maxLines: 250, whereKept: '.agent/exec/s1/1/', batchLines: 100 });
    for (let i = 0; i < 10_000; i++) out.line(i % 7 === 0 ? 'stderr' : 'stdout', `line ${i}`);
    const counts = await out.close();
    expect(counts).toEqual({ streamed: 250, dropped: 9750 });
    const streamedLines = events.filter((e) => e.lines).reduce((n, e) => n + e.lines!, 0);
    expect(streamedLines).toBe(250);
    expect(events.length).toBeLessThan(120);
    const notices = events.filter((e) => e.message.includes('not streamed'));
    expect(notices).toHaveLength(1);
    expect(notices[0]!.message).toContain('.agent/exec/s1/1/');
    expect(events.at(-1)).toBe(notices[0]);
  });
});
