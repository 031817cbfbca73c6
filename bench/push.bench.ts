// The rendered-config push against skopeo, on the same bytes: a scratch image
// of a 1 MiB rendered config, pushed to a fresh repository of the local
// registry (plain http) each time by the operator's RegistryClient (through a
// long-lived client of RegistryClients, as the operator does) and by
// `skopeo copy` from an OCI layout holding the same manifest, config and layer.
//
//   eval "$(hack/local-cluster.sh env)"; node bench/push.bench.ts [--runs 5] [--mib 1]
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { RegistryClients } from '../src/registry/clients.ts';
import { buildScratchImage } from '../src/registry/scratch-image.ts';
import { summarize } from './stats.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
};
const runs = Number(arg('runs', '5'));
const mib = Number(arg('mib', '1'));
const registry = process.env.LOCAL_REGISTRY;
if (!registry || !(runs >= 1) || !(mib > 0)) {
  console.error('usage: node bench/push.bench.ts [--runs 5] [--mib 1]   (LOCAL_REGISTRY from hack/local-cluster.sh env)');
  process.exit(2);
}

// Incompressible content, so the layer is about `mib` MiB on the wire.
const content = randomBytes(Math.round(mib * 2 ** 20)).toString('base64');
const img = buildScratchImage({ machineConfig: { spec: { config: { ignition: { version: '3.4.0' }, storage: { files: [{ path: '/etc/big', contents: { source: `data:,${content}` } }] } } } } });

// The same image as an OCI layout for skopeo.
const layout = mkdtempSync(path.join(tmpdir(), 'lbc-push-bench-'));
mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
for (const [digest, data] of [[img.manifestDigest, img.manifest], [img.configDigest, img.config], [img.layerDigest, img.layer]] as const) {
  writeFileSync(path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
}
writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
writeFileSync(
  path.join(layout, 'index.json'),
  JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: img.manifestMediaType, digest: img.manifestDigest, size: img.manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }),
);

const skopeo = (repo: string) =>
  new Promise<void>((resolve, reject) =>
    execFile('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${registry}/${repo}:bench`], (err, _o, stderr) =>
      err ? reject(new Error(`skopeo: ${stderr.trim()}`)) : resolve(),
    ),
  );

const clients = new RegistryClients();
const ours: number[] = [];
const theirs: number[] = [];
const loads: number[] = [];
const id = randomBytes(3).toString('hex');
for (let i = 0; i < runs; i++) {
  loads.push(loadavg()[0]!);
  let t = performance.now();
  const res = await clients.run(() => clients.client({ registry, insecure: true }).pushImage(`lbc-bench/push-${id}-${i}`, img, ['bench']));
  ours.push(performance.now() - t);
  if (!res.pushed) throw new Error('nothing was pushed: the repository was not fresh');
  t = performance.now();
  await skopeo(`lbc-bench/skopeo-${id}-${i}`);
  theirs.push(performance.now() - t);
}
clients.close();
const f = (v: number[]) => {
  const s = summarize(v)!;
  return `${s.min.toFixed(0)} / ${s.median.toFixed(0)} / ${s.max.toFixed(0)} ms`;
};
const l = summarize(loads)!;
console.log(`== rendered-config push, ${(img.size / 2 ** 20).toFixed(2)} MiB image, ${runs} runs to fresh repositories of ${registry} (min / median / max; load ${l.min.toFixed(2)} / ${l.median.toFixed(2)} / ${l.max.toFixed(2)})`);
console.log(`   RegistryClient (long-lived)  ${f(ours)}`);
console.log(`   skopeo copy (same bytes)     ${f(theirs)}`);
