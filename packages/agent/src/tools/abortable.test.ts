import { getEventListeners } from 'node:events';
import { abortable, sleep } from './abortable';

describe('sleep and abortable leave nothing on the signal', () => {
  it('a sleep that ran its time removes its abort listener (a step signal held it, and all it holds, for good)', async () => {
    const c = new AbortController();
    const step = AbortSignal.any([c.signal, new AbortController().signal]);
    await sleep(1, step);
    expect(getEventListeners(step, 'abort')).toHaveLength(0);
    await abortable(Promise.resolve(1), step);
    expect(getEventListeners(step, 'abort')).toHaveLength(0);
  });

  it('an abort stops the sleep at once with the signal’s reason, and a signal aborted before never starts it', async () => {
    const c = new AbortController();
    const started = Date.now();
    const slept = sleep(60_000, c.signal);
    c.abort(new Error('cancelled'));
    await expect(slept).rejects.toThrow('cancelled');
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(sleep(10, c.signal)).rejects.toThrow('cancelled');
  });
});
