// S19 retention: three config changes (four images, the fewest that show the
// rule), then `prune --dry-run --keep-images 2` predicts exactly what goes and what stays; `prune` (as the
// operator's own ServiceAccount, so the shipped RBAC is what is exercised)
// removes exactly that set, one line per object, each an Event on the pool:
// the in-use image plus the 2 newest besides it stay, the fp- tag and Build
// of the oldest and the rendered-config tags no kept image was built from
// go; `latest` is never touched, the pool stays Ready and nothing is rebuilt.
// Then the operator's own periodic prune (`--prune-interval 2s --keep-images 1`)
// removes one more image, with its Event and lbc_pruned_total.
import { describe, expect, it } from 'vitest';
import { clusterEnv, waitFor } from '../harness/cluster.ts';
import { builds, ignitionOf, metricValue, runCli, scrape } from '../harness/operator.ts';
import { poolStreams } from '../../src/plan/names.ts';
import { caughtUp, events, scenario, settled, status, streamTags, waitHandedOff } from './support.ts';

const sc = scenario('s19', { operator: { args: ['--prune-interval', '0'] } });
const { s, P } = sc;
const S = poolStreams(P);
const digestOf = (ref: string) => ref.slice(ref.indexOf('@') + 1);
/** The digests a stream's tags other than `latest` name. */
const taggedDigests = (tags: Record<string, string[]>) => [...new Set(Object.entries(tags).flatMap(([t, ds]) => (t === 'latest' ? [] : ds)))].sort();

describe('S19 retention', () => {
  it('three config changes with --keep-images 2: prune --dry-run predicts the set, prune removes exactly it; the operator prunes periodically', async () => {
    const images: string[] = [];
    const first = await sc.firstImage({ '/etc/layered-demo/motd': 'version 0\n' });
    images.push(first.image!);
    for (let i = 1; i <= 3; i++) {
      await sc.setConfig(ignitionOf({ '/etc/layered-demo/motd': `version ${i}\n` }));
      const st = await waitHandedOff(s.ns, P, (x) => x.image !== images.at(-1), `the image of config ${i}`);
      images.push(st.image!);
    }
    expect(new Set(images).size).toBe(4);
    const digests = images.map(digestOf);
    // Four Complete Builds (under OpenShift's successfulBuildsHistoryLimit of 5: none pruned).
    const contentBuilds = await builds(s.ns, P, 'content');
    expect(contentBuilds.every((b) => b.phase === 'Complete' && digests.includes(b.digest!))).toBe(true);
    expect(contentBuilds).toHaveLength(4);
    expect(taggedDigests(await streamTags(s.ns, S.content))).toEqual([...digests].sort());
    const rcBefore = await streamTags(s.ns, S.renderedConfig);
    expect(taggedDigests(rcBefore)).toHaveLength(4);

    const flags = ['-n', s.ns, '--opt-in-label', s.label, '--registry', clusterEnv().INTERNAL_REGISTRY, '--keep-images', '2', '--keep-for', '1s'];
    // The prediction.
    const dry = await runCli(['prune', '--dry-run', '--pool', P, ...flags]);
    expect(dry.code, dry.stderr).toBe(0);
    const lines = dry.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`pool ${P}: 2 would go, 6 stay (dry run: nothing removed)`);
    const verdict = (word: 'REMOVE' | 'KEEP  ', stream: string) =>
      lines.flatMap((l) => (l.startsWith(`  ${word} ${stream}@`) ? [l.slice(`  ${word} ${stream}@`.length).split(' ')[0]!] : [])).sort();
    const keptContent = [digests[3]!, digests[2]!, digests[1]!].sort();
    const goneContent = [digests[0]!];
    expect(verdict('KEEP  ', S.content)).toEqual(keptContent);
    expect(verdict('REMOVE', S.content)).toEqual(goneContent);
    expect(lines.find((l) => l.startsWith(`  KEEP   ${S.content}@${digests[3]}`))).toMatch(/: in use: hand-off MachineConfig /);
    expect(lines.find((l) => l.startsWith(`  KEEP   ${S.content}@${digests[1]}`))).toMatch(/one of the last 2 images of .* besides those in use \(#2\)/);
    expect(verdict('REMOVE', S.renderedConfig)).toHaveLength(1);
    const predicted = lines.filter((l) => l.startsWith('  would delete ')).map((l) => l.slice('  would delete '.length).replace(/ \(.*$/, '')).sort();
    // 1 content tag + 1 rendered-config tag + the Build of the oldest; never a `latest`.
    const goneBuilds = contentBuilds.filter((b) => goneContent.includes(b.digest!)).map((b) => `Build ${s.ns}/${b.name}`).sort();
    const n = 2 + goneBuilds.length;
    expect(goneBuilds).toHaveLength(1);
    expect(predicted).toHaveLength(n);
    expect(predicted.filter((p) => p.startsWith('Build '))).toEqual(goneBuilds);
    expect(predicted.some((p) => p.endsWith(':latest'))).toBe(false);
    // Nothing was removed by the dry run.
    expect(taggedDigests(await streamTags(s.ns, S.content))).toHaveLength(4);

    // The removal, as the operator's ServiceAccount (the shipped RBAC).
    const seen = await caughtUp(sc.op);
    const run = await runCli(['prune', ...flags, '--kubeconfig', sc.install.kubeconfig]);
    expect(run.code, run.stderr).toBe(0);
    const out = run.stdout.trimEnd().split('\n');
    expect(out[0]).toBe(`pool ${P}: ${n} removed, 0 already gone, 0 left, 0 failed; 6 image(s) stay`);
    const removed = out.filter((l) => l.startsWith('  REMOVED ')).map((l) => l.slice('  REMOVED '.length).replace(/: retention: .*$/, '')).sort();
    expect(removed).toEqual(predicted);
    expect(out.filter((l) => l.startsWith('  KEEP    '))).toHaveLength(6);

    // Exactly the predicted set is left: the in-use image plus the 2 newest besides it.
    const contentAfter = await streamTags(s.ns, S.content);
    expect(taggedDigests(contentAfter)).toEqual(keptContent);
    expect(contentAfter.latest![0]).toBe(digests[3]);
    const rcAfter = await streamTags(s.ns, S.renderedConfig);
    expect(taggedDigests(rcAfter)).toHaveLength(3);
    expect(rcAfter.latest![0]).toBe(rcBefore.latest![0]);
    const left = await builds(s.ns, P, 'content');
    expect(left.map((b) => b.digest).sort()).toEqual(keptContent);
    // Each removal is an Event on the pool.
    await waitFor(async () => (await events(P)).filter((e) => e.reason === 'Pruned').length === n, { what: `${n} Pruned events`, timeoutMs: 30_000 });
    // The operator saw the deletes and did nothing: same image, no build.
    await seen('the prune');
    const st = await status(s.ns, P);
    expect(settled(st)).toBe(true);
    expect(st.image).toBe(images[3]);
    expect(await builds(s.ns, P, 'content')).toHaveLength(3);
    // A second prune finds nothing to do.
    const again = await runCli(['prune', ...flags, '--kubeconfig', sc.install.kubeconfig]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.split('\n')[0]).toBe(`pool ${P}: 0 removed, 0 already gone, 0 left, 0 failed; 6 image(s) stay`);

    // The operator's periodic prune, with --keep-images 1: image 1 goes (its fp tag, its rendered config, its Build).
    await sc.op.stop();
    const op = await sc.startOperator('s19-pruning', { args: ['--prune-interval', '2s', '--keep-images', '1', '--keep-for', '1s'] });
    const fp = left.find((b) => b.digest === digests[1])!;
    await waitFor(async () => taggedDigests(await streamTags(s.ns, S.content)).join() === [digests[3]!, digests[2]!].sort().join(), {
      what: `the periodic prune removing ${digests[1]}`,
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    await op.waitForLog((l) => l.msg === 'prune finished' && Number(l.removed) === 3, 30_000);
    const m = (await scrape((await op.endpoints()).metricsUrl)).samples;
    expect(metricValue(m, 'lbc_pruned_total', { kind: 'ImageStreamTag' })).toBe(2);
    expect(metricValue(m, 'lbc_pruned_total', { kind: 'Build' })).toBe(1);
    expect(metricValue(m, 'lbc_prune_failures_total')).toBe(0);
    const ev = (await events(P)).filter((e) => e.reason === 'Pruned');
    expect(ev).toHaveLength(n + 3);
    expect(ev.some((e) => e.message.includes(`${S.content}:fp-`) && e.message.includes(digests[1]!.slice(0, 19)))).toBe(true);
    expect(ev.some((e) => e.message.includes(`removed Build "${s.ns}/${fp.name}"`))).toBe(true);
    expect((await builds(s.ns, P, 'content')).map((b) => b.digest).sort()).toEqual([digests[3]!, digests[2]!].sort());
    expect((await status(s.ns, P)).image).toBe(images[3]);
    expect(op.alive()).toBe(true);
    expect(op.errors()).toEqual([]);
  });
});
