import { openSse } from '../helpers/sse-client';
import { startStack, TOKENS, type Stack } from '../helpers/stack';

describe('cancelling runs', () => {
  describe('with no worker running', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ label: 'cancel-queued' });
    });
    afterAll(() => stack.stop());

    it('cancels a queued run at once: its job leaves the queue and its stream ends', async () => {
      const { body } = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'wait', args: { seconds: 1 } }] });
      expect((await stack.api('GET', '/agent/queue/stats')).body.waiting).toBe(1);
      const sse = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
      const res = await stack.execute({ action: 'cancel', run_id: body.run_id, reason: 'changed my mind' });
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ run_id: body.run_id, status: 'cancelled' });
      await sse.closed;
      expect(sse.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'cancelled' } });
      expect((await stack.api('GET', '/agent/queue/stats')).body.waiting).toBe(0);
      const run = (await stack.api('GET', `/agent/runs/${body.run_id}`)).body;
      expect(run.error).toMatchObject({ code: 'cancelled', message: 'changed my mind' });
      expect(run.steps[0].status).toBe('cancelled');
      // A second cancel changes nothing and is not an error.
      expect((await stack.execute({ action: 'cancel', run_id: body.run_id })).status).toBe(202);
    });

    it('cancels a created run that was never started', async () => {
      const { body } = await stack.execute({ action: 'create', steps: [{ tool: 'log', args: { message: 'x' } }] });
      const res = await stack.execute({ action: 'cancel', run_id: body.run_id });
      expect(res.body.status).toBe('cancelled');
    });
  });

  describe('with a worker', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ workers: 1, label: 'cancel-running' });
    });
    afterAll(() => stack.stop());

    it('stops a running run within 2 s by aborting its tool, and the worker is free again', async () => {
      const { body } = await stack.execute({
        action: 'create',
        start: true,
        steps: [
          { id: 'long', tool: 'wait', args: { seconds: 60 } },
          { id: 'after', tool: 'log', args: { message: 'never' }, needs: ['long'] },
        ],
      });
      const sse = await openSse(`${stack.baseUrl}/agent/logs/${body.run_id}/stream`, { token: TOKENS.acme });
      await sse.waitFor((e) => e.event === 'step' && e.data.phase === 'started', 'the wait step to start');
      const at = Date.now();
      await stack.execute({ action: 'cancel', run_id: body.run_id });
      await sse.closed;
      expect(Date.now() - at).toBeLessThan(2000);
      expect(sse.events.at(-1)).toMatchObject({ event: 'end', data: { status: 'cancelled' } });
      const phases = sse.events.filter((e) => e.event === 'step').map((e) => `${e.data.step_id}:${e.data.phase}`);
      expect(phases).toEqual(['long:started', 'long:cancelled', 'after:cancelled']);

      const next = await stack.execute({ action: 'create', start: true, steps: [{ tool: 'log', args: { message: 'free' } }] });
      await stack.waitForStatus(next.body.run_id, ['succeeded'], 5000);
    });
  });
});
