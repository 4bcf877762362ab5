import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { findPromtool } from '../helpers/promtool';

/**
 * The alert rules under Prometheus's own tools: `promtool check rules` parses every
 * expression and template, and `promtool test rules` evaluates them over synthetic series
 * (tests/k8s/promtool/alerts.test.yaml), so "fires after 5 minutes" is checked, not assumed.
 */
const root = join(__dirname, '..', '..');
const rule = parse(readFileSync(join(root, 'k8s/monitoring/alerts.yaml'), 'utf8'));
const unitTests = join(__dirname, 'promtool', 'alerts.test.yaml');
const promtool = findPromtool();
const describePromtool = 'path' in promtool ? describe : describe.skip;
if ('missing' in promtool) console.warn(`skipping the promtool checks of k8s/monitoring/alerts.yaml: ${promtool.missing}`);

type Case = { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] };

describe('alert unit tests', () => {
  it('cover every alert, each with a case where it fires and one where it does not', () => {
    const alerts: string[] = rule.spec.groups.flatMap((g: { rules: { alert: string }[] }) => g.rules.map((r) => r.alert));
    const cases = (parse(readFileSync(unitTests, 'utf8')).tests as Case[]).flatMap((t) => t.alert_rule_test);
    const missing = alerts.flatMap((a) => {
      const mine = cases.filter((c) => c.alertname === a);
      return [
        ...(mine.some((c) => c.exp_alerts.length > 0) ? [] : [`${a}: no case where it fires`]),
        ...(mine.some((c) => c.exp_alerts.length === 0) ? [] : [`${a}: no case where it stays quiet`]),
      ];
    });
    expect(missing).toEqual([]);
  });
});

describePromtool('alert rules under promtool', () => {
  let dir: string;
  const run = (...args: string[]) => {
    const r = spawnSync((promtool as { path: string }).path, args, { cwd: dir, encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ay-promtool-'));
    // promtool reads plain rule files: the PrometheusRule's spec is one.
    writeFileSync(join(dir, 'alerts.rules.yaml'), stringify({ groups: rule.spec.groups }));
    copyFileSync(unitTests, join(dir, 'alerts.test.yaml'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts every rule (promtool check rules)', () => {
    const r = run('check', 'rules', 'alerts.rules.yaml');
    expect([r.status, r.output]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });

  it('fires each alert when and only when its unit tests say (promtool test rules)', () => {
    const r = run('test', 'rules', 'alerts.test.yaml');
    expect([r.status, r.output]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });
});
