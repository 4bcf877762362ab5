import { RUN_STATUSES, type RunStatus } from '@agentyard/core';
import { canTransition, TRANSITIONS, type TransitionName } from './state-machine';

describe('run state machine', () => {
  const allowed: Record<TransitionName, RunStatus[]> = {
    start: ['created'],
    pickup: ['queued', 'failed', 'running'],
    succeed: ['running'],
    fail: ['running'],
    deadLetter: ['queued', 'running', 'failed'],
    cancel: ['created', 'queued', 'running', 'failed', 'awaiting_approval'],
    retry: ['failed', 'dead_lettered', 'cancelled'],
    awaitApproval: ['running'],
    decide: ['awaiting_approval'],
    handBack: ['running'],
    recover: ['running'],
    replay: ['dead_lettered'],
  };

  it.each(Object.keys(TRANSITIONS) as TransitionName[])('%s is allowed exactly from its listed statuses', (name) => {
    for (const from of RUN_STATUSES) {
      expect([from, canTransition(name, from)]).toEqual([from, allowed[name].includes(from)]);
    }
  });

  it('never leaves succeeded, and leaves cancelled or dead_lettered only by retry', () => {
    const exits = (s: RunStatus) => (Object.keys(TRANSITIONS) as TransitionName[]).filter((n) => canTransition(n, s));
    expect(exits('succeeded')).toEqual([]);
    expect(exits('cancelled')).toEqual(['retry']);
    expect(exits('dead_lettered')).toEqual(['retry', 'replay']);
  });
});
