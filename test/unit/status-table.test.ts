// The admin's table of layered pools (src/status/table.ts): rows from status
// objects, the text table, ages and shortened image references.
import { describe, expect, it } from 'vitest';
import type { LayeredPool } from '../../src/kube/types.ts';
import { age, formatTable, rows, shortImage } from '../../src/status/table.ts';

const NOW = Date.parse('2026-01-10T12:00:00Z');
const D = (c: string) => 'sha256:' + c.repeat(64);
const iso = (msAgo: number) => new Date(NOW - msAgo).toISOString();

function lp(name: string, status?: LayeredPool['status'], poolName: string | undefined = name): LayeredPool {
  return { apiVersion: 'layering.mco.dev/v1alpha1', kind: 'LayeredPool', metadata: { name, namespace: 'ns' }, ...(poolName ? { spec: { poolName } } : {}), ...(status ? { status } : {}) };
}

describe('age', () => {
  it.each([
    [0, '0s'],
    [59_000, '59s'],
    [119_999, '119s'],
    [120_000, '2m'],
    [119 * 60_000, '119m'],
    [120 * 60_000, '2h'],
    [47 * 3600_000, '47h'],
    [48 * 3600_000, '2d'],
    [30 * 86400_000, '30d'],
  ])('%d ms ago is %s', (ms, want) => {
    expect(age(iso(ms), NOW)).toBe(want);
  });

  it('is "-" without a time or with one that does not parse', () => {
    expect(age(undefined, NOW)).toBe('-');
    expect(age('', NOW)).toBe('-');
    expect(age('yesterday-ish', NOW)).toBe('-');
  });

  it('never goes negative for a time in the future (clock skew)', () => {
    expect(age(new Date(NOW + 30_000).toISOString(), NOW)).toBe('0s');
  });
});

describe('shortImage', () => {
  it('keeps 12 hex of a sha256 digest', () => {
    expect(shortImage(`reg:5000/ns/worker-mco-content@${D('a')}`)).toBe('reg:5000/ns/worker-mco-content@sha256:aaaaaaaaaaaa');
    expect(shortImage(`reg/ns/x@sha256:0123456789abcdef${'0'.repeat(48)}`)).toBe('reg/ns/x@sha256:0123456789ab');
  });

  it('leaves tags, short or malformed digests alone, and shows "-" for nothing', () => {
    expect(shortImage('reg/ns/x:latest')).toBe('reg/ns/x:latest');
    expect(shortImage('reg/ns/x@sha256:abc')).toBe('reg/ns/x@sha256:abc');
    expect(shortImage(`reg/ns/x@sha256:${'A'.repeat(64)}`)).toBe(`reg/ns/x@sha256:${'A'.repeat(64)}`);
    expect(shortImage(undefined)).toBe('-');
    expect(shortImage('')).toBe('-');
  });
});

describe('rows', () => {
  const ready = lp('worker', {
    phase: 'Ready',
    base: `reg/ns/worker-base@${D('b')}`,
    baseSource: 'coreos',
    renderedConfig: 'rendered-worker-1',
    image: `reg/ns/worker-mco-content@${D('c')}`,
    imageSource: 'mco-content',
    lastBuild: 'worker-build-mco-content-0123456789-1',
    lastBuildTime: iso(5 * 60_000),
    message: 'image handed to the pool\nsecond line is not shown',
  });

  it('maps every status field, with the age of the last build and the first line of the message', () => {
    expect(rows([ready], NOW)).toEqual([
      {
        pool: 'worker',
        phase: 'Ready',
        base: `reg/ns/worker-base@${D('b')}`,
        baseSource: 'coreos',
        renderedConfig: 'rendered-worker-1',
        image: `reg/ns/worker-mco-content@${D('c')}`,
        imageSource: 'mco-content',
        lastBuild: 'worker-build-mco-content-0123456789-1',
        lastBuildAge: '5m',
        rolloutConfig: '-',
        machines: '-',
        message: 'image handed to the pool',
      },
    ]);
  });

  it('fills what a new status object lacks with "-", Unknown and an empty message', () => {
    expect(rows([lp('fresh')], NOW)).toEqual([
      { pool: 'fresh', phase: 'Unknown', base: '-', baseSource: '-', renderedConfig: '-', image: '-', imageSource: '-', lastBuild: '-', lastBuildAge: '-', rolloutConfig: '-', machines: '-', message: '' },
    ]);
  });

  it('names the pool from spec.poolName, else the object name, and sorts by it', () => {
    const rs = rows([lp('zeta'), lp('obj-a', undefined, 'alpha'), lp('mid', undefined, undefined)], NOW);
    expect(rs.map((r) => r.pool)).toEqual(['alpha', 'mid', 'zeta']);
  });

  it('does not reorder the input array', () => {
    const input = [lp('b'), lp('a')];
    rows(input, NOW);
    expect(input.map((p) => p.metadata.name)).toEqual(['b', 'a']);
  });
});

describe('formatTable', () => {
  it('prints a header and one aligned line per pool, digests shortened, sources in parentheses', () => {
    const rs = rows(
      [
        lp('worker', { phase: 'Ready', base: `reg/ns/worker-base@${D('b')}`, baseSource: 'coreos', renderedConfig: 'rendered-worker-1', image: `reg/ns/worker-mco-content@${D('c')}`, imageSource: 'mco-content', lastBuild: 'b1', lastBuildTime: iso(90_000), message: 'ok' }),
        lp('infra', { phase: 'Building', baseSource: 'external-base', message: '' }),
      ],
      NOW,
    );
    const text = formatTable(rs);
    const lines = text.split('\n');
    expect(text.endsWith('\n')).toBe(true);
    expect(lines).toHaveLength(4); // header, two pools, '' after the final newline
    expect(lines[0]).toMatch(/^POOL\s+PHASE\s+BASE \(SOURCE\)\s+RENDERED CONFIG\s+IMAGE \(SOURCE\)\s+LAST BUILD\s+AGE\s+ROLLED OUT AS\s+MACHINES\s+MESSAGE$/);
    expect(lines[1]).toMatch(/^infra\s+Building\s+- \(external-base\)\s+-\s+- \(-\)\s+-\s+-\s+-\s+-$/);
    expect(lines[2]).toContain('reg/ns/worker-base@sha256:bbbbbbbbbbbb (coreos)');
    expect(lines[2]).toContain('reg/ns/worker-mco-content@sha256:cccccccccccc (mco-content)');
    expect(lines[2]).toMatch(/\b90s\s+-\s+-\s+ok$/);
    expect(text).not.toContain('b'.repeat(13));
    // Columns line up: every column starts at the same offset on each line.
    const starts = [...lines[0]!.matchAll(/ {2}(?=\S)/g)].map((m) => m.index + 2);
    expect(starts).toHaveLength(9);
    for (const l of lines.slice(1, 3)) for (const c of starts.filter((c) => c < l.length)) expect(l.slice(c - 2, c + 1)).toMatch(/^ {2}\S$/);
  });

  it('cuts a long message at 100 characters with an ellipsis', () => {
    const long = 'x'.repeat(150);
    const text = formatTable(rows([lp('p', { phase: 'Degraded', message: long })], NOW));
    const last = text.trimEnd().split('\n')[1]!;
    expect(last.endsWith('x'.repeat(99) + '…')).toBe(true);
    expect(last).not.toContain('x'.repeat(100));
  });

  it('prints only the header for no pools', () => {
    expect(formatTable([])).toBe('POOL  PHASE  BASE (SOURCE)  RENDERED CONFIG  IMAGE (SOURCE)  LAST BUILD  AGE  ROLLED OUT AS  MACHINES  MESSAGE\n');
  });

  it('shows the rollout as MCO reports it, and escapes control characters from the cluster in every cell', () => {
    const rs = rows(
      [
        {
          metadata: { name: 'w' },
          spec: { poolName: 'w\nevil' },
          status: {
            phase: 'Ready\u001b[31m',
            message: 'ok\ttab',
            rollout: { renderedConfig: 'rendered-w-1\r\nFAKE ROW', machineCount: 3, updatedMachineCount: 2, readyMachineCount: 2, degradedMachineCount: 1 },
          },
        },
      ],
      0,
    );
    expect(rs[0]).toMatchObject({ pool: 'w evil', phase: 'Ready [31m', rolloutConfig: 'rendered-w-1 FAKE ROW', machines: '2/3 updated, 2 ready, 1 degraded', message: 'ok tab' });
    const table = formatTable(rs);
    expect(table.split('\n')).toHaveLength(3); // header, one row, final newline
    // eslint-disable-next-line no-control-regex
    expect(/[\u0000-\u0009\u000b-\u001f]/.test(table)).toBe(false);
  });
});
