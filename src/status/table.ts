// The admin's table of layered pools, from the status objects. Pure.
import type { LayeredPool } from '../kube/types.ts';

export interface PoolRow {
  pool: string;
  phase: string;
  base: string;
  baseSource: string;
  renderedConfig: string;
  image: string;
  imageSource: string;
  lastBuild: string;
  lastBuildAge: string;
  /** The rendered config carrying our image (status.configuration), or '-'. */
  rolloutConfig: string;
  /** `updated/total` machines, with ready and degraded counts, as MCO reports them. */
  machines: string;
  message: string;
}

/** A value from the cluster made safe for one table cell: no newlines or control characters, bounded length. */
export function cell(v: unknown, max = 200): string {
  const s = typeof v === 'string' ? v : v === undefined || v === null ? '-' : String(v);
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return clean.length > max ? clean.slice(0, max - 1) + '…' : clean || '-';
}

const count = (n: unknown): number | undefined => (typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : undefined);

export function age(fromIso: string | undefined, now: number): string {
  if (!fromIso) return '-';
  const ms = now - Date.parse(fromIso);
  if (!Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** `repo@sha256:0123456789ab` — the digest shortened to 12 hex for reading. */
export function shortImage(ref: string | undefined): string {
  if (!ref) return '-';
  return ref.replace(/@sha256:([0-9a-f]{12})[0-9a-f]{52}$/, '@sha256:$1');
}

export function rows(pools: readonly LayeredPool[], now: number): PoolRow[] {
  return [...pools]
    .sort((a, b) => (a.spec?.poolName ?? a.metadata.name).localeCompare(b.spec?.poolName ?? b.metadata.name))
    .map((lp) => {
      const s = lp.status ?? {};
      const r = s.rollout ?? {};
      const total = count(r.machineCount);
      const machines =
        total === undefined ? '-' : `${count(r.updatedMachineCount) ?? 0}/${total} updated, ${count(r.readyMachineCount) ?? 0} ready, ${count(r.degradedMachineCount) ?? 0} degraded`;
      return {
        pool: cell(lp.spec?.poolName ?? lp.metadata.name),
        phase: cell(s.phase ?? 'Unknown'),
        base: cell(s.base),
        baseSource: cell(s.baseSource),
        renderedConfig: cell(s.renderedConfig),
        image: cell(s.image),
        imageSource: cell(s.imageSource),
        lastBuild: cell(s.lastBuild),
        lastBuildAge: age(s.lastBuildTime, now),
        rolloutConfig: cell(r.renderedConfig),
        machines,
        message: cell((s.message ?? '').split('\n')[0] ?? '', 1000).replace(/^-$/, ''),
      };
    });
}

export function formatTable(rs: readonly PoolRow[]): string {
  const header = ['POOL', 'PHASE', 'BASE (SOURCE)', 'RENDERED CONFIG', 'IMAGE (SOURCE)', 'LAST BUILD', 'AGE', 'ROLLED OUT AS', 'MACHINES', 'MESSAGE'];
  const body = rs.map((r) => [
    r.pool,
    r.phase,
    `${shortImage(r.base)} (${r.baseSource})`,
    r.renderedConfig,
    `${shortImage(r.image)} (${r.imageSource})`,
    r.lastBuild,
    r.lastBuildAge,
    r.rolloutConfig,
    r.machines,
    r.message.length > 100 ? r.message.slice(0, 99) + '…' : r.message,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}
