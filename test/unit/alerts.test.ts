// The alert rules of manifests/monitoring/prometheusrule.yaml, unit-tested with
// `promtool test rules`: each alert fires on a synthetic series and stays
// silent on a healthy one. promtool comes with Debian's `prometheus` package
// (hack/ensure-deps.sh installs it). Without promtool the test is skipped,
// except under CI=true, where it fails.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

const RULE_FILE = new URL('../../manifests/monitoring/prometheusrule.yaml', import.meta.url);

const RuleSchema = z.looseObject({
  alert: z.string(),
  expr: z.string(),
  for: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
const PrometheusRuleSchema = z.looseObject({
  apiVersion: z.literal('monitoring.coreos.com/v1'),
  kind: z.literal('PrometheusRule'),
  metadata: z.looseObject({ name: z.string(), namespace: z.string() }),
  spec: z.looseObject({ groups: z.array(z.looseObject({ name: z.string(), rules: z.array(RuleSchema).min(1) })).min(1) }),
});

const ruleDoc = PrometheusRuleSchema.parse(yaml.load(readFileSync(RULE_FILE, 'utf8')));
const rules = new Map(ruleDoc.spec.groups.flatMap((g) => g.rules.map((r) => [r.alert, r] as const)));

function promtoolPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}
const promtool = promtoolPath();
const inCI = process.env.CI === 'true';

/** The expected alert: its labels (the rule's own plus `labels`) and its annotations with `{{ $labels.x }}` filled in. */
function expAlert(name: string, labels: Record<string, string>) {
  const r = rules.get(name);
  if (!r) throw new Error(`no alert ${name} in ${RULE_FILE.pathname}`);
  const fill = (s: string) =>
    s.replace(/\{\{\s*\$labels\.([a-zA-Z_]+)\s*\}\}/g, (_, l: string) => {
      const v = labels[l];
      if (v === undefined) throw new Error(`annotation of ${name} uses label ${l} that the test does not give`);
      return v;
    });
  if (Object.values(r.annotations ?? {}).some((v) => /\{\{(?!\s*\$labels\.)/.test(v))) throw new Error(`annotation of ${name} uses a template the test cannot fill`);
  return {
    exp_labels: { ...(r.labels ?? {}), ...labels },
    exp_annotations: Object.fromEntries(Object.entries(r.annotations ?? {}).map(([k, v]) => [k, fill(v)])),
  };
}

type Series = { series: string; values: string };
type AlertCase = { eval_time: string; alertname: string; exp_alerts: ReturnType<typeof expAlert>[] };

/** `name{a="b",...}` */
function s(name: string, labels: Record<string, string>, values: string): Series {
  return { series: `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`, values };
}

const A = { instance: '10.0.0.1:8080', pod: 'lbc-a', namespace: 'openshift-machine-config-operator' };
const B = { instance: '10.0.0.2:8080', pod: 'lbc-b', namespace: 'openshift-machine-config-operator' };
const leaderA = [s('lbc_leader', A, '1x180'), s('lbc_leader', B, '0x180')];

/** A bucket series of lbc_build_duration_seconds for `n` builds that each took between 120 and 300 s (median ≈ 210 s). */
function durations(pool: string, n: number): Series[] {
  const les = ['10', '30', '60', '120', '300', '600', '1200', '+Inf'];
  return les.map((le) => s('lbc_build_duration_seconds_bucket', { ...A, pool, kind: 'content', le }, Number(le) >= 300 || le === '+Inf' ? `0 0 0 ${n}x177` : '0x180'));
}

interface TestCase {
  name: string;
  interval: string;
  input_series: Series[];
  alert_rule_test: AlertCase[];
}

const tests: TestCase[] = [
  {
    name: 'LayeredPoolDegraded: fires after 15 minutes of Degraded on the leader, not for a healthy pool or a former leader',
    interval: '1m',
    input_series: [
      ...leaderA,
      s('lbc_pool_condition', { ...A, pool: 'worker', condition: 'Degraded', reason: 'BuildFailed' }, '1x40'),
      s('lbc_pool_condition', { ...A, pool: 'infra', condition: 'Degraded', reason: 'AsExpected' }, '0x40'),
      // What replica b exported while it led: stale, ignored.
      s('lbc_pool_condition', { ...B, pool: 'edge', condition: 'Degraded', reason: 'RegistryError' }, '1x40'),
      s('lbc_pool_condition', { ...A, pool: 'edge', condition: 'Degraded', reason: 'AsExpected' }, '0x40'),
    ],
    alert_rule_test: [
      { eval_time: '10m', alertname: 'LayeredPoolDegraded', exp_alerts: [] },
      { eval_time: '20m', alertname: 'LayeredPoolDegraded', exp_alerts: [expAlert('LayeredPoolDegraded', { pool: 'worker' })] },
    ],
  },
  {
    name: 'LayeredPoolDegraded: a reason change does not restart the 15 minutes',
    interval: '1m',
    input_series: [
      ...leaderA,
      s('lbc_pool_condition', { ...A, pool: 'worker', condition: 'Degraded', reason: 'RegistryError' }, '1x9 _x30'),
      s('lbc_pool_condition', { ...A, pool: 'worker', condition: 'Degraded', reason: 'BuildFailed' }, '_x9 1x30'),
    ],
    alert_rule_test: [{ eval_time: '17m', alertname: 'LayeredPoolDegraded', exp_alerts: [expAlert('LayeredPoolDegraded', { pool: 'worker' })] }],
  },
  {
    name: 'LayeredPoolBuildsFailing: three failures in an hour fire; one does not',
    interval: '1m',
    input_series: [
      ...leaderA,
      s('lbc_builds_total', { ...A, pool: 'worker', kind: 'content', event: 'failed' }, '0x10 1x10 2x10 3x30'),
      s('lbc_builds_total', { ...A, pool: 'infra', kind: 'content', event: 'failed' }, '0x10 1x50'),
      s('lbc_builds_total', { ...A, pool: 'infra', kind: 'content', event: 'succeeded' }, '0x20 1x40'),
    ],
    alert_rule_test: [
      { eval_time: '25m', alertname: 'LayeredPoolBuildsFailing', exp_alerts: [] },
      { eval_time: '45m', alertname: 'LayeredPoolBuildsFailing', exp_alerts: [expAlert('LayeredPoolBuildsFailing', { pool: 'worker', kind: 'content' })] },
    ],
  },
  {
    name: 'LayeredPoolBuildTooLong: a build running 3x the median fires; a build within it does not; no history, no alert',
    interval: '1m',
    input_series: [
      ...leaderA,
      ...durations('worker', 4),
      ...durations('infra', 4),
      // worker's build started at t=0 (unix 0): at 2h it has run 7200 s > 3 × 210 s.
      s('lbc_build_active_start_time_seconds', { ...A, pool: 'worker', kind: 'content' }, '0x180'),
      // infra's started at 6900 s: at 2h it has run 300 s.
      s('lbc_build_active_start_time_seconds', { ...A, pool: 'infra', kind: 'content' }, '_x114 6900x65'),
      // edge has never finished a build: no median to compare with.
      s('lbc_build_active_start_time_seconds', { ...A, pool: 'edge', kind: 'content' }, '0x180'),
    ],
    alert_rule_test: [
      { eval_time: '5m', alertname: 'LayeredPoolBuildTooLong', exp_alerts: [] },
      { eval_time: '2h', alertname: 'LayeredPoolBuildTooLong', exp_alerts: [expAlert('LayeredPoolBuildTooLong', { pool: 'worker', kind: 'content' })] },
    ],
  },
  {
    name: 'LayeredPoolRenderedConfigPushFailing: only failures for 10 minutes fire; a failure followed by a push does not',
    interval: '1m',
    input_series: [
      ...leaderA,
      s('lbc_rendered_config_pushes_total', { ...A, pool: 'worker', result: 'failed' }, '0 0+1x40'),
      s('lbc_rendered_config_pushes_total', { ...A, pool: 'worker', result: 'pushed' }, '0x40'),
      s('lbc_rendered_config_pushes_total', { ...A, pool: 'worker', result: 'skipped' }, '0x40'),
      s('lbc_rendered_config_pushes_total', { ...A, pool: 'infra', result: 'failed' }, '0 1x40'),
      s('lbc_rendered_config_pushes_total', { ...A, pool: 'infra', result: 'pushed' }, '0 0 1x39'),
      s('lbc_rendered_config_pushes_total', { ...A, pool: 'infra', result: 'skipped' }, '0x40'),
    ],
    alert_rule_test: [
      { eval_time: '5m', alertname: 'LayeredPoolRenderedConfigPushFailing', exp_alerts: [] },
      { eval_time: '20m', alertname: 'LayeredPoolRenderedConfigPushFailing', exp_alerts: [expAlert('LayeredPoolRenderedConfigPushFailing', { pool: 'worker' })] },
    ],
  },
  {
    name: 'LayeredBuildControllerNoLeader: no replica leads for 5 minutes',
    interval: '1m',
    input_series: [s('lbc_leader', A, '1x3 0x20'), s('lbc_leader', B, '0x23')],
    alert_rule_test: [
      { eval_time: '6m', alertname: 'LayeredBuildControllerNoLeader', exp_alerts: [] },
      { eval_time: '10m', alertname: 'LayeredBuildControllerNoLeader', exp_alerts: [expAlert('LayeredBuildControllerNoLeader', {})] },
    ],
  },
  {
    name: 'LayeredBuildControllerNoLeader: no replica exports metrics at all',
    interval: '1m',
    input_series: [s('lbc_leader', A, '1x2')],
    alert_rule_test: [{ eval_time: '20m', alertname: 'LayeredBuildControllerNoLeader', exp_alerts: [expAlert('LayeredBuildControllerNoLeader', {})] }],
  },
  {
    name: 'LayeredBuildControllerNotReady: a replica not ready, or not scraped, for 10 minutes',
    interval: '1m',
    input_series: [
      ...leaderA,
      s('lbc_ready', A, '1x30'),
      s('lbc_ready', B, '0x30'),
      s('up', { job: 'layered-build-controller-metrics', ...A }, '1x30'),
      s('up', { job: 'layered-build-controller-metrics', ...B }, '1x30'),
      s('up', { job: 'layered-build-controller-metrics', instance: '10.0.0.3:8080', pod: 'lbc-c', namespace: A.namespace }, '1x5 0x25'),
    ],
    alert_rule_test: [
      { eval_time: '8m', alertname: 'LayeredBuildControllerNotReady', exp_alerts: [] },
      {
        eval_time: '20m',
        alertname: 'LayeredBuildControllerNotReady',
        exp_alerts: [
          expAlert('LayeredBuildControllerNotReady', { ...B }),
          expAlert('LayeredBuildControllerNotReady', { job: 'layered-build-controller-metrics', instance: '10.0.0.3:8080', pod: 'lbc-c', namespace: A.namespace }),
        ],
      },
    ],
  },
  {
    name: 'a healthy operator and healthy pools: silent',
    interval: '1m',
    input_series: [
      ...leaderA,
      s('lbc_ready', A, '1x180'),
      s('lbc_ready', B, '1x180'),
      s('up', { job: 'layered-build-controller-metrics', ...A }, '1x180'),
      s('up', { job: 'layered-build-controller-metrics', ...B }, '1x180'),
      s('lbc_pool_condition', { ...A, pool: 'worker', condition: 'Degraded', reason: 'AsExpected' }, '0x180'),
      s('lbc_pool_condition', { ...A, pool: 'worker', condition: 'Ready', reason: 'ImageHandedOff' }, '1x180'),
      s('lbc_builds_total', { ...A, pool: 'worker', kind: 'content', event: 'failed' }, '0x180'),
      s('lbc_builds_total', { ...A, pool: 'worker', kind: 'content', event: 'succeeded' }, '0x60 1x120'),
      s('lbc_rendered_config_pushes_total', { ...A, pool: 'worker', result: 'failed' }, '0x180'),
      s('lbc_rendered_config_pushes_total', { ...A, pool: 'worker', result: 'pushed' }, '0x30 1x150'),
      ...durations('worker', 4),
      // A build running for 5 minutes.
      s('lbc_build_active_start_time_seconds', { ...A, pool: 'worker', kind: 'content' }, '_x170 9900x10'),
    ],
    alert_rule_test: ['30m', '170m'].flatMap((t) => [...rules.keys()].map((alertname) => ({ eval_time: t, alertname, exp_alerts: [] }))),
  },
];

describe('alert rules (promtool test rules)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbc-alerts-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the PrometheusRule has the six alerts, each with a severity and a runbook in manifests/README.md', () => {
    expect([...rules.keys()].sort()).toEqual(
      [
        'LayeredBuildControllerNoLeader',
        'LayeredBuildControllerNotReady',
        'LayeredPoolBuildTooLong',
        'LayeredPoolBuildsFailing',
        'LayeredPoolDegraded',
        'LayeredPoolRenderedConfigPushFailing',
      ].sort(),
    );
    const readme = readFileSync(new URL('../../manifests/README.md', import.meta.url), 'utf8');
    for (const [name, r] of rules) {
      expect(r.labels?.severity, name).toMatch(/^(warning|critical)$/);
      expect(r.annotations?.runbook, name).toBe(`manifests/README.md#${name.toLowerCase()}`);
      expect(new RegExp(`^#{3,4} ${name}$`, 'm').test(readme), `manifests/README.md has a runbook heading for ${name}`).toBe(true);
    }
  });

  it('every alert is tested firing and silent', () => {
    for (const name of rules.keys()) {
      const cases = tests.flatMap((t) => t.alert_rule_test.filter((c) => c.alertname === name));
      expect(cases.some((c) => c.exp_alerts.length > 0), `${name} fires somewhere`).toBe(true);
      expect(cases.some((c) => c.exp_alerts.length === 0), `${name} is silent somewhere`).toBe(true);
    }
  });

  const run = promtool ? it : inCI ? it : it.skip;
  if (!promtool && !inCI) {
    process.stderr.write('alerts.test.ts: promtool not found; skipping `promtool test rules` (apt-get install -y prometheus, or run hack/ensure-deps.sh)\n');
  }
  run('promtool test rules passes: each alert fires on its synthetic series and not on the healthy ones', () => {
    if (!promtool) throw new Error('promtool is missing under CI=true: install Debian package prometheus (hack/ensure-deps.sh does)');
    const rulesFile = join(dir, 'rules.yaml');
    writeFileSync(rulesFile, yaml.dump({ groups: ruleDoc.spec.groups }, { lineWidth: -1 }));
    const check = spawnSync(promtool, ['check', 'rules', rulesFile], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const testFile = join(dir, 'tests.yaml');
    writeFileSync(testFile, yaml.dump({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }, { lineWidth: -1 }));
    const r = spawnSync(promtool, ['test', 'rules', testFile], { encoding: 'utf8', cwd: dir });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
  });

  it.runIf(promtool !== undefined)('promtool notices a wrong expectation (the harness really checks)', () => {
    const broken = structuredClone(tests[0]!);
    broken.alert_rule_test = [{ eval_time: '10m', alertname: 'LayeredPoolDegraded', exp_alerts: [expAlert('LayeredPoolDegraded', { pool: 'worker' })] }];
    writeFileSync(join(dir, 'rules.yaml'), yaml.dump({ groups: ruleDoc.spec.groups }, { lineWidth: -1 }));
    const testFile = join(dir, 'broken.yaml');
    writeFileSync(testFile, yaml.dump({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests: [broken] }, { lineWidth: -1 }));
    const r = spawnSync(promtool!, ['test', 'rules', testFile], { encoding: 'utf8', cwd: dir });
    expect(r.status).not.toBe(0);
  });
});
