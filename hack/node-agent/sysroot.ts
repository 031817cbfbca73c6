// The node's ostree sysroot as the node-agent stand-in keeps it (what
// `rpm-ostree status` shows on a node): its deployments, newest first, each
// with its checksum, its directory (the deployment's root filesystem) and the
// container image it was deployed from (its origin file). Read by the
// node-agent, the demo and the tests.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface Deployment {
  checksum: string;
  /** The deployment's root filesystem (`/usr/etc` holds the image's `/etc`). */
  dir: string;
  /** The image it came from (`ostree-unverified-registry:<image>` in its origin), when it came from one. */
  image?: string;
}

/** The sysroot under a local cluster's state directory. */
export const nodeSysroot = (stateDir: string) => path.join(stateDir, 'node/host/sysroot');

export function deployments(sysroot: string): Deployment[] {
  const r = spawnSync('ostree', ['admin', `--sysroot=${sysroot}`, 'status'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ostree admin status --sysroot=${sysroot}: ${(r.stderr || r.error?.message || '').trim()}`);
  const out: Deployment[] = [];
  for (const m of r.stdout.matchAll(/^[* ]*\S+\s+([0-9a-f]{64})\.(\d+)\s*$/gm)) {
    const dir = path.join(sysroot, 'ostree/deploy/default/deploy', `${m[1]}.${m[2]}`);
    let origin = '';
    try {
      origin = readFileSync(`${dir}.origin`, 'utf8');
    } catch {
      // no origin file: not deployed from an image
    }
    out.push({ checksum: m[1]!, dir, image: /^container-image-reference=ostree-unverified-registry:(.+)$/m.exec(origin)?.[1] });
  }
  return out;
}
