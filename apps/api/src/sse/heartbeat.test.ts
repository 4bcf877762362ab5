import { createSseHeartbeat } from './heartbeat';

describe('the shared SSE heartbeat', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const stream = () => {
    const frames: string[] = [];
    return { frames, write: (chunk: string) => frames.push(chunk) };
  };

  it('beats every open stream once per interval with one timer, and stops beating a removed one', () => {
    const hb = createSseHeartbeat(1000);
    const a = stream();
    const b = stream();
    hb.add(a);
    hb.add(b);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(1000);
    expect(a.frames).toEqual([': heartbeat\n\n']);
    expect(b.frames).toEqual([': heartbeat\n\n']);
    hb.remove(a);
    jest.advanceTimersByTime(2000);
    expect(a.frames).toHaveLength(1);
    expect(b.frames).toHaveLength(3);
  });

  it('holds no timer while no stream is open, and starts one again for the next', () => {
    const hb = createSseHeartbeat(1000);
    const a = stream();
    hb.add(a);
    hb.remove(a);
    expect(hb.size()).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
    const b = stream();
    hb.add(b);
    jest.advanceTimersByTime(1000);
    expect(b.frames).toHaveLength(1);
  });
});
