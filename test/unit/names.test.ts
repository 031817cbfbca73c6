// Any pool name Kubernetes allows (up to 253 characters): derived names that
// would exceed a limit are shortened deterministically, recorded in the
// status, and never collide.
import { describe, expect, it } from 'vitest';
import { poolKeysFor } from '../../src/controller/keys.ts';
import { attemptOf } from '../../src/plan/builds.ts';
import {
  MAX_IMAGE_STREAM,
  MAX_LABEL_VALUE,
  MAX_NAME,
  buildName,
  handoffMachineConfigName,
  poolBuildConfigs,
  poolStreams,
  shortenName,
  shortenedNames,
} from '../../src/plan/names.ts';
import { World, machineConfig, pool } from './plan-world.ts';

const FP = 'f'.repeat(64);
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function derived(p: string): string[] {
  const bc = poolBuildConfigs(p);
  return [...Object.values(poolStreams(p)), bc.content, bc.custom, handoffMachineConfigName(p), buildName(bc.content, FP, 1), buildName(bc.custom, FP, 99)];
}

describe('derived names', () => {
  it('are unchanged for short pool names (nothing recorded)', () => {
    expect(poolStreams('worker').renderedConfig).toBe('worker-rendered-config');
    expect(poolBuildConfigs('worker').custom).toBe('worker-build-mco-content-custom');
    expect(handoffMachineConfigName('worker')).toBe('99-worker-layered-image');
    expect(buildName('worker-build-mco-content', FP, 3)).toBe(`worker-build-mco-content-${FP.slice(0, 10)}-3`);
    expect(shortenedNames('worker')).toEqual({});
  });

  it('fit their limits and stay valid names for every pool length up to 253', () => {
    for (let n = 1; n <= 253; n++) {
      const p = `p${'a.b-c'.repeat(60)}`.slice(0, n).replace(/[-.]+$/, '') || 'p';
      const s = poolStreams(p);
      const bc = poolBuildConfigs(p);
      for (const name of Object.values(s)) expect(name.length).toBeLessThanOrEqual(MAX_IMAGE_STREAM);
      for (const name of [bc.content, bc.custom, buildName(bc.content, FP, 1), buildName(bc.custom, FP, 99999)]) expect(name.length).toBeLessThanOrEqual(MAX_LABEL_VALUE);
      expect(handoffMachineConfigName(p).length).toBeLessThanOrEqual(MAX_NAME);
      for (const name of derived(p)) expect(name).toMatch(SUBDOMAIN);
    }
  });

  it('are deterministic: a readable prefix plus a hash of the full name', () => {
    const p = 'infra-' + 'x'.repeat(200);
    expect(poolBuildConfigs(p)).toEqual(poolBuildConfigs(p));
    const bc = poolBuildConfigs(p).content;
    expect(bc).toMatch(/^infra-x+-[0-9a-f]{10}$/);
    expect(bc).toHaveLength(63);
    expect(shortenName('abc', 3)).toBe('abc');
    expect(shortenName('abcdefghijklmnop', 14)).toMatch(/^abc-[0-9a-f]{10}$/);
  });

  it('never collide: pools sharing a long prefix, or differing only at the end, get distinct names', () => {
    const base = 'pool-' + 'y'.repeat(240);
    const pools = ['', '1', '2', 'a', 'b', '-x', '.x', 'zz'].map((s) => (base + s).slice(0, 253)).concat([base.slice(0, 100), base.slice(0, 101), 'worker', 'infra']);
    const seen = new Map<string, string>();
    for (const p of pools) {
      for (const name of derived(p)) {
        const other = seen.get(name);
        if (other !== undefined) expect(other).toBe(p);
        seen.set(name, p);
      }
    }
    expect(seen.size).toBe(new Set(pools).size * 11);
  });

  it('attempt numbers read back from shortened Build names', () => {
    const bc = poolBuildConfigs('q'.repeat(250)).content;
    expect(attemptOf(buildName(bc, FP, 7), bc, FP)).toBe(7);
  });

  it('an admin-created stream of a long pool maps to its pool', () => {
    const p = 'r'.repeat(240);
    const pools = () => [pool(p, { rendered: 'rendered-1' })];
    expect(poolKeysFor('ImageStream', { metadata: { name: poolStreams(p).external } } as never, pools)).toEqual([p]);
  });
});

describe('a pool with a 253-character name is layered', () => {
  it('builds, hands off, and records the shortened names in its status', () => {
    const long = 'w' + 'o'.repeat(251) + 'r';
    expect(long).toHaveLength(253);
    const w = new World({ debounceMs: 0 });
    w.machineConfigs.set('rendered-long-1', machineConfig('rendered-long-1'));
    w.pools.set(long, pool(long, { rendered: 'rendered-long-1' }));
    w.settle();
    expect(w.buildsCreated).toHaveLength(1);
    expect(w.buildsCreated[0]!.length).toBeLessThanOrEqual(63);
    const st = w.statuses.get(long)!.status!;
    expect(st.phase).toBe('Ready');
    expect(w.poolImage(long)).toBeDefined();
    expect(st.shortenedNames?.[`${long}-build-mco-content`]).toBe(poolBuildConfigs(long).content);
    expect(st.shortenedNames?.[`99-${long}-layered-image`]).toBe(handoffMachineConfigName(long));
    expect(w.machineConfigs.has(handoffMachineConfigName(long))).toBe(true);
  });
});
