import { describe, expect, it } from 'vitest';
import type { Build } from '../../src/kube/types.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { poolStateOf } from '../../src/server/pool-state.ts';

const lines = async (m: ReturnType<typeof createMetrics>, name: string) => (await m.text()).split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));

const build = (name: string, kind: string, phase: string | undefined, start?: string, cancelled = false): Build => ({
  metadata: { name, labels: { 'layering.mco.dev/build-kind': kind }, creationTimestamp: '2026-01-01T00:00:00Z' },
  status: { ...(phase ? { phase: phase as 'Running' } : {}), ...(start ? { startTimestamp: start } : {}), ...(cancelled ? { cancelled: true } : {}) },
});

describe('per-pool gauges for the alert rules', () => {
  it('lbc_pool_condition follows the conditions; a new reason replaces the old series; clearing removes them', async () => {
    const m = createMetrics({ processMetrics: false });
    m.poolState('worker', { conditions: [{ type: 'Degraded', status: 'True', reason: 'BuildFailed' }, { type: 'Ready', status: 'False', reason: 'BuildFailed' }], activeBuilds: {} });
    expect(await lines(m, 'lbc_pool_condition')).toEqual([
      'lbc_pool_condition{pool="worker",condition="Degraded",reason="BuildFailed"} 1',
      'lbc_pool_condition{pool="worker",condition="Ready",reason="BuildFailed"} 0',
    ]);
    m.poolState('worker', { conditions: [{ type: 'Degraded', status: 'False', reason: 'AsExpected' }, { type: 'Ready', status: 'True', reason: 'ImageHandedOff' }], activeBuilds: {} });
    expect(await lines(m, 'lbc_pool_condition')).toEqual([
      'lbc_pool_condition{pool="worker",condition="Degraded",reason="AsExpected"} 0',
      'lbc_pool_condition{pool="worker",condition="Ready",reason="ImageHandedOff"} 1',
    ]);
    m.poolState('worker', undefined);
    expect(await lines(m, 'lbc_pool_condition')).toEqual([]);
  });

  it('lbc_build_active_start_time_seconds is set while a build runs and removed after', async () => {
    const m = createMetrics({ processMetrics: false });
    m.poolState('worker', { conditions: [], activeBuilds: { content: Date.parse('2026-01-01T00:00:10Z') } });
    expect(await lines(m, 'lbc_build_active_start_time_seconds')).toEqual([`lbc_build_active_start_time_seconds{pool="worker",kind="content"} ${Date.parse('2026-01-01T00:00:10Z') / 1000}`]);
    m.poolState('worker', { conditions: [], activeBuilds: {} });
    expect(await lines(m, 'lbc_build_active_start_time_seconds')).toEqual([]);
  });

  it('the failure series exist at 0 from the first start and the first push (so increase() counts the first failure)', async () => {
    const m = createMetrics({ processMetrics: false });
    m.build('worker', 'content', 'started');
    m.renderedConfigPush('worker', 'pushed', 10);
    expect(await lines(m, 'lbc_builds_total')).toContain('lbc_builds_total{pool="worker",kind="content",event="failed"} 0');
    expect(await lines(m, 'lbc_rendered_config_pushes_total')).toContain('lbc_rendered_config_pushes_total{pool="worker",result="failed"} 0');
    expect(await lines(m, 'lbc_rendered_config_pushes_total')).toContain('lbc_rendered_config_pushes_total{pool="worker",result="pushed"} 1');
  });

  it('lbc_ready samples the readiness probe at every scrape', async () => {
    const m = createMetrics({ processMetrics: false });
    expect(await lines(m, 'lbc_ready')).toEqual(['lbc_ready 0']);
    let ok = true;
    m.setReadyProbe(() => ok);
    expect(await lines(m, 'lbc_ready')).toEqual(['lbc_ready 1']);
    ok = false;
    expect(await lines(m, 'lbc_ready')).toEqual(['lbc_ready 0']);
  });

  it('poolStateOf: the oldest running build per kind; cancelled and finished builds do not count; unmanaged clears', () => {
    const builds = [
      build('a', 'content', 'Running', '2026-01-01T00:01:00Z'),
      build('b', 'content', 'Pending', '2026-01-01T00:00:30Z'),
      build('c', 'content', 'Running', '2026-01-01T00:00:01Z', true),
      build('d', 'custom', 'Complete', '2026-01-01T00:00:01Z'),
    ];
    const st = poolStateOf({ conditions: [{ type: 'Degraded', status: 'True', reason: 'X', message: 'm', lastTransitionTime: 't' }] }, builds, true);
    expect(st).toEqual({ conditions: [{ type: 'Degraded', status: 'True', reason: 'X' }], activeBuilds: { content: Date.parse('2026-01-01T00:00:30Z') } });
    expect(poolStateOf(undefined, builds, false)).toBeUndefined();
  });
});
