// S31 no secret in any image: the cluster's global pull secret
// (openshift-config/pull-secret) holds a credential; the pool is a custom pool
// as OpenShift has them (it inherits the worker configs, so MCC renders the pull
// secret into it as /var/lib/kubelet/config.json). The rendered config has the
// credential; no layer (nor the config blob) of the rendered-config image or of
// the content image has it, raw or inside a data: URL; the worker configs were
// applied (the search is not of an empty image), and the pool is Ready on it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, waitFor } from '../harness/cluster.ts';
import { expectedFiles } from '../../src/plan/ignition-files.ts';
import { SECRET_FILES } from '../../src/plan/machineconfig.ts';
import { readImageFiles, scenario, secretsInImage, setGlobalPullSecret, waitHandedOff } from './support.ts';

const sc = scenario('s31', { inheritWorker: true });
const { s, P } = sc;
const USER = 'pull-secret-user';
const PASSWORD = `s3cr3t-${Date.now().toString(36)}`;
const AUTH = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
let restore: (() => Promise<void>) | undefined;

/** The content of /var/lib/kubelet/config.json in a MachineConfig's Ignition config, decoded (undefined: none). */
async function pullSecretIn(mc: string): Promise<string | undefined> {
  const obj = await getJson<{ spec?: { config?: unknown } }>(['machineconfig', mc]);
  const files = expectedFiles(obj?.spec?.config);
  if (!files.ok) throw new Error(files.message);
  return files.files.find((f) => f.path === '/var/lib/kubelet/config.json')?.contents?.toString('utf8');
}

beforeAll(async () => {
  restore = await setGlobalPullSecret(JSON.stringify({ auths: { 'registry.example.com': { auth: AUTH, email: 'admin@example.com' } } }));
  // MCC's template controller renders the new pull secret into the worker configs.
  await waitFor(async () => (await pullSecretIn('00-worker'))?.includes(AUTH), { what: '00-worker with the new pull secret', timeoutMs: 120_000 });
});
afterAll(async () => {
  await restore?.();
});

describe('S31 no secret in any image', () => {
  it("the cluster's pull secret is rendered into the pool, and no layer of either image has it", async () => {
    const files = { '/etc/layered-demo/motd': 'S31\n' };
    const st = await sc.firstImage(files);
    // The rendered config the image was built for carries the credential (MCC put it there).
    const built = await waitHandedOff(s.ns, P, () => true, 'the image on its rendering');
    expect(await pullSecretIn(built.rendered)).toContain(AUTH);
    // (the credential, not the file's path: MCO's own scripts and units name the path)
    const needles = [AUTH, PASSWORD];
    expect(await secretsInImage(st.renderedConfigImage!, needles)).toEqual([]);
    expect(await secretsInImage(st.image!, needles)).toEqual([]);
    // Not an empty search: the image holds this pool's file and the worker configs MCC merged in.
    const got = await readImageFiles(st.image!, ['/etc/layered-demo/motd', '/etc/kubernetes/apiserver-url.env', ...SECRET_FILES]);
    expect(got.get('/etc/layered-demo/motd')).toBe('S31\n');
    expect(got.has('/etc/kubernetes/apiserver-url.env')).toBe(true);
    for (const f of SECRET_FILES) expect(got.has(f), f).toBe(false);
    expect(sc.op.errors()).toEqual([]);
  });
});
