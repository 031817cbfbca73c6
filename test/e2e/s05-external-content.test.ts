// S5 external content tagged into <pool>-mco-content-external:latest: the pool
// switches with no build; untagged: it falls back to its own image.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Operator, Scope } from './support.ts';
import {
  ANN_CONFIG,
  ANN_IMAGE,
  ANN_SOURCE,
  Operator as Op,
  builds,
  cleanup,
  createMachineConfig,
  createPool,
  ensureNamespace,
  events,
  fetchManifest,
  ignitionOf,
  ocTag,
  ocTagDelete,
  poolAnnotations,
  pushDerivedImage,
  readImageFiles,
  registryHost,
  scope,
  settled,
  sleep,
  streams,
  sweepLeftovers,
  waitStatus,
} from './support.ts';

let s: Scope;
let op: Operator;
let P: string;
let MC: string;

beforeAll(async () => {
  await sweepLeftovers();
  s = scope('s5');
  P = `e2e-${s.id}`;
  MC = `rendered-e2e-${s.id}-1`;
  await ensureNamespace(s.ns);
  op = await Op.start('s5', { scope: s });
});

afterAll(async () => {
  await op?.stop();
  if (s) await cleanup(s, [P], [MC]);
});

describe('S5 external content', () => {
  it('tagged: the pool switches with no build; untagged: falls back', async () => {
    const files = { '/etc/layered-demo/motd': 'content\n' };
    await createMachineConfig(MC, ignitionOf(files));
    await createPool(P, s, MC);
    const first = await waitStatus(s.ns, P, settled, 'the first image');
    const own = first.image!;
    expect((await builds(s.ns, P)).length).toBe(1);

    // Content built elsewhere (here: derived from the pool's own image), then
    // `oc tag <registry>/external/<id>-content:v1 <ns>/<pool>-mco-content-external:latest`.
    const marker = { '/etc/external-content-marker': `built outside for ${P}\n` };
    const ext = await pushDerivedImage(own, `external/${s.id}-content`, 'v1', marker, { 'e2e.layering.mco.dev/image': 'external-content' });
    await ocTag(s.ns, streams(P).external, 'latest', `${registryHost()}/external/${s.id}-content:v1`);
    const switched = await waitStatus(s.ns, P, (st) => settled(st) && st.imageSource === 'external', 'the external content');
    expect(switched.image).toBe(ext);
    expect(await poolAnnotations(P)).toEqual({ [ANN_IMAGE]: ext, [ANN_CONFIG]: MC, [ANN_SOURCE]: 'external' });
    expect((await fetchManifest(ext))?.digest).toBe(ext.split('@')[1]);
    expect(Object.fromEntries(await readImageFiles(ext, [...Object.keys(marker), ...Object.keys(files)]))).toEqual({ ...marker, ...files });
    await sleep(3000);
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);

    // `oc tag -d`: back to the pool's own image, still without a build.
    await ocTagDelete(s.ns, streams(P).external, 'latest');
    const back = await waitStatus(s.ns, P, (st) => settled(st) && st.imageSource === 'mco-content', 'the fall-back to mco-content');
    expect(back.image).toBe(own);
    expect(await poolAnnotations(P)).toEqual({ [ANN_IMAGE]: own, [ANN_CONFIG]: MC, [ANN_SOURCE]: 'mco-content' });
    await sleep(3000);
    expect((await builds(s.ns, P)).map((b) => b.phase)).toEqual(['Complete']);

    const ev = await events(P);
    expect(ev.filter((e) => e.reason === 'BuildStarted')).toHaveLength(1);
    expect(ev.filter((e) => e.reason === 'ImageHandedOff').map((e) => e.message)).toEqual([
      `pool ${P} now uses mco-content image ${own} (config ${MC})`,
      `pool ${P} now uses external image ${ext} (config ${MC})`,
      `pool ${P} now uses mco-content image ${own} (config ${MC})`,
    ]);
    expect(op.alive()).toBe(true);
    expect(op.errors()).toEqual([]);
  });
});
