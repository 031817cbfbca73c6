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
  message: string;
}

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
      return {
        pool: lp.spec?.poolName ?? lp.metadata.name,
        phase: s.phase ?? 'Unknown',
        base: s.base ?? '-',
        baseSource: s.baseSource ?? '-',
        renderedConfig: s.renderedConfig ?? '-',
        image: s.image ?? '-',
        imageSource: s.imageSource ?? '-',
        lastBuild: s.lastBuild ?? '-',
        lastBuildAge: age(s.lastBuildTime, now),
        message: (s.message ?? '').split('\n')[0] ?? '',
      };
    });
}

export function formatTable(rs: readonly PoolRow[]): string {
  const header = ['POOL', 'PHASE', 'BASE (SOURCE)', 'RENDERED CONFIG', 'IMAGE (SOURCE)', 'LAST BUILD', 'AGE', 'MESSAGE'];
  const body = rs.map((r) => [
    r.pool,
    r.phase,
    `${shortImage(r.base)} (${r.baseSource})`,
    r.renderedConfig,
    `${shortImage(r.image)} (${r.imageSource})`,
    r.lastBuild,
    r.lastBuildAge,
    r.message.length > 100 ? r.message.slice(0, 99) + '…' : r.message,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}
