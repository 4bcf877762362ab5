import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startStack, type Stack } from '../helpers/stack';

const root = join(__dirname, '..', '..');
const alerts = parse(readFileSync(join(root, 'k8s/monitoring/alerts.yaml'), 'utf8'));
const dashboard = JSON.parse(readFileSync(join(root, 'k8s/monitoring/grafana-dashboard.json'), 'utf8'));
const runbook = readFileSync(join(root, 'docs/RUNBOOK.md'), 'utf8');

const rules: Array<{ alert: string; expr: string; annotations: Record<string, string>; labels: Record<string, string> }> =
  alerts.spec.groups.flatMap((g: { rules: unknown[] }) => g.rules);
const exprs = [...rules.map((r) => r.expr), ...dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr))];
const used = new Set(exprs.flatMap((e) => [...e.matchAll(/agentyard_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''))));

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes. */
const anchors = new Set(
  [...runbook.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, '').trim().replace(/ /g, '-')),
);

describe('monitoring', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ workers: 1, label: 'monitoring', env: { LLM_BASE_URL: 'http://127.0.0.1:9/v1' } });
  });
  afterAll(() => stack.stop());

  it('uses only metrics the api or the worker actually exports', async () => {
    const text = String((await stack.api('GET', '/metrics', undefined, { token: '' })).body) + (await stack.workers[0]!.registry.metrics());
    const exported = new Set([...text.matchAll(/^# TYPE (agentyard_[a-z_]+)/gm)].map((m) => m[1]));
    expect([...used].filter((m) => !exported.has(m))).toEqual([]);
    expect(used.size).toBeGreaterThan(10);
  });

  it('has the alerts the runbook promises, each with a severity and a runbook anchor that exists', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual(
      [
        'AgentyardDeadLettersPresent',
        'AgentyardModelBreakerOpen',
        'AgentyardNoWorkers',
        'AgentyardOldestWaitingRunTooOld',
        'AgentyardQueueBacklog',
        'AgentyardQueueBacklogCritical',
        'AgentyardQueueFullRefusals',
        'AgentyardRunFailureRatioHigh',
        'AgentyardWorkerPoolSaturated',
      ].sort(),
    );
    for (const r of rules) {
      expect(['warning', 'critical']).toContain(r.labels.severity);
      const anchor = r.annotations.runbook_url!.split('#')[1]!;
      expect([r.alert, anchors.has(anchor)]).toEqual([r.alert, true]);
    }
    const backlog = rules.find((r) => r.alert === 'AgentyardQueueBacklog')!;
    expect(backlog.expr).toMatch(/prioritized/);
    expect(backlog.expr).toMatch(/> 50$/);
  });
});

