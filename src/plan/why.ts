// "Why did it build" (issue 9): what changed since the previous build of the
// same kind of a pool, recorded once on each history entry when its Build
// first appears, and kept from then on. Pure.
import type { Build, BuildHistoryEntry } from '../kube/types.ts';
import { sha256Hex } from '../util/canonical-json.ts';
import { ANNOTATION_INPUTS, ANNOTATION_REBUILD, ANNOTATION_REBUILD_TOKEN } from './names.ts';

/** The key under which a history entry records its Dockerfile, by hash (the Dockerfile itself is not kept). */
export const DOCKERFILE_INPUT = 'dockerfileSha256';

export interface WhyContext {
  /** The base source the pool uses now (external-base | coreos), and its base by digest. */
  baseSource?: string | undefined;
  base?: string | undefined;
  /** The pool's Builds (the new entries' Builds are among them). */
  builds: readonly Build[];
}

const digestOf = (ref: string | undefined): string => (ref ? (/@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1] ?? ref) : '-');
export const short = (d: string): string => d.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]{52}$/, '$1');

function buildInputs(b: Build | undefined): Record<string, string> | undefined {
  try {
    const v: unknown = JSON.parse(b?.metadata.annotations?.[ANNOTATION_INPUTS] ?? '');
    if (!v || typeof v !== 'object') return undefined;
    return Object.fromEntries(Object.entries(v).filter(([, x]) => typeof x === 'string')) as Record<string, string>;
  } catch {
    return undefined;
  }
}

function renderedName(b: Build | undefined): string | undefined {
  const labels = (b?.spec as { output?: { imageLabels?: { name?: string; value?: string }[] } } | undefined)?.output?.imageLabels;
  return labels?.find((l) => l.name === 'machineconfig')?.value;
}

/** The history with each entry's Dockerfile hash filled in (from its Build while it exists). */
export function withDockerfileHash(history: readonly BuildHistoryEntry[], builds: readonly Build[]): BuildHistoryEntry[] {
  const byName = new Map(builds.map((b) => [b.metadata.name, b]));
  return history.map((e) => {
    if (e.inputs[DOCKERFILE_INPUT]) return e;
    const df = buildInputs(byName.get(e.build))?.dockerfile;
    return df === undefined ? e : { ...e, inputs: { ...e.inputs, [DOCKERFILE_INPUT]: sha256Hex(df).slice(0, 16) } };
  });
}

/** What changed between the previous build of the same kind and this one, in words. */
export function changesBetween(prev: BuildHistoryEntry | undefined, cur: BuildHistoryEntry, ctx: WhyContext): string[] {
  const build = ctx.builds.find((b) => b.metadata.name === cur.build);
  const prevBuild = prev ? ctx.builds.find((b) => b.metadata.name === prev.build) : undefined;
  const token = build?.metadata.annotations?.[ANNOTATION_REBUILD_TOKEN] ?? '';
  const out: string[] = [];
  const name = renderedName(build);
  if (!prev) {
    out.push(`first ${cur.kind} build of the pool`);
  } else {
    const a = prev.inputs;
    const b = cur.inputs;
    if (a.base !== b.base) {
      const src = ctx.base !== undefined && b.base === ctx.base && ctx.baseSource ? ` (${ctx.baseSource === 'external-base' ? 'external base' : 'coreos'})` : '';
      out.push(`base ${short(digestOf(a.base))} -> ${short(digestOf(b.base))}${src}`);
    }
    if (a.renderedConfig !== b.renderedConfig) {
      const names = renderedName(prevBuild) && name ? ` (${renderedName(prevBuild)} -> ${name})` : name ? ` (now ${name})` : '';
      out.push(`rendered config ${short(digestOf(a.renderedConfig))} -> ${short(digestOf(b.renderedConfig))}${names}`);
    }
    if (a.content !== b.content) out.push(`content image ${short(digestOf(a.content))} -> ${short(digestOf(b.content))}`);
    if (a.applyCommand !== b.applyCommand) out.push('apply command changed');
    if (a.templateVersion !== b.templateVersion) out.push(`template version ${a.templateVersion ?? '-'} -> ${b.templateVersion ?? '-'}`);
    // A content build's Dockerfile follows its base and rendered config; a custom one is the user's.
    const dfChanged = !!a[DOCKERFILE_INPUT] && !!b[DOCKERFILE_INPUT] && a[DOCKERFILE_INPUT] !== b[DOCKERFILE_INPUT];
    if (dfChanged && (cur.kind === 'custom' || out.length === 0)) out.push('Dockerfile changed');
    if (prev.fingerprint === cur.fingerprint) {
      const prevToken = prevBuild?.metadata.annotations?.[ANNOTATION_REBUILD_TOKEN];
      if (token && prevToken !== token) out.push(`rebuild requested (${ANNOTATION_REBUILD}=${token})`);
      if (prev.interrupted) out.push(`previous attempt ${prev.build} was interrupted (${prev.interrupted.split(':')[0]})`);
      else if (prev.result === 'Failed' || prev.result === 'Error') out.push(`previous attempt ${prev.build} failed`);
      else if (prev.result === 'Cancelled' || prev.result === 'Cancelling') out.push(`previous attempt ${prev.build} was cancelled`);
    } else if (out.length === 0) {
      out.push(`inputs ${prev.fingerprint.slice(0, 10)} -> ${cur.fingerprint.slice(0, 10)}`);
    }
  }
  if (out.length === 0) out.push(token ? `rebuild requested (${ANNOTATION_REBUILD}=${token})` : 'same inputs as the previous build');
  return out;
}

/**
 * Fills `changes` of the history entries that have none: kept from the
 * recorded history when it has them, else computed against the next older
 * entry of the same kind (in this history, or the recorded one).
 */
export function explainHistory(prev: readonly BuildHistoryEntry[] | undefined, history: readonly BuildHistoryEntry[], ctx: WhyContext): BuildHistoryEntry[] {
  const recorded = new Map((prev ?? []).map((e) => [e.build, e]));
  const all = [...history, ...(prev ?? []).filter((e) => !history.some((h) => h.build === e.build))];
  const at = (e: BuildHistoryEntry) => Date.parse(e.start ?? e.end ?? '') || 0;
  all.sort((a, b) => at(b) - at(a) || b.build.localeCompare(a.build));
  return history.map((e) => {
    const kept = recorded.get(e.build)?.changes ?? e.changes;
    if (kept?.length) return kept === e.changes ? e : { ...e, changes: kept };
    const i = all.indexOf(all.find((x) => x.build === e.build)!);
    const before = all.slice(i + 1).find((x) => x.kind === e.kind);
    return { ...e, changes: changesBetween(before, e, ctx) };
  });
}
