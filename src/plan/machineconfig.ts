// Validation of a rendered MachineConfig before it becomes an image.
import { z } from 'zod';
import type { MachineConfig } from '../kube/types.ts';

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const IgnitionSchema = z.looseObject({
  ignition: z.looseObject({
    version: z.string().regex(/^3\.[0-9]+\.[0-9]+(-experimental)?$/, 'ignition.version must be a 3.x.y Ignition spec version'),
  }),
  storage: z
    .looseObject({
      files: z
        .array(
          z.looseObject({
            path: z.string().regex(/^\/[^\0\n]*$/, 'storage.files[].path must be an absolute path'),
            mode: z.number().int().min(0).max(0o7777).optional(),
            contents: z.looseObject({ source: z.string().optional() }).optional(),
          }),
        )
        .optional(),
    })
    .optional(),
  systemd: z
    .looseObject({
      units: z.array(z.looseObject({ name: z.string().min(1) })).optional(),
    })
    .optional(),
});

/**
 * The part of a rendered MachineConfig that changes what a node runs, and
 * nothing else: the Ignition config, kernel arguments, extensions, kernel type
 * and FIPS, without the files that hold a Secret (SECRET_FILES). Not its name, labels, annotations (MCC's
 * `os-image-url-overridden`) or `osImageURL`: our own hand-off changes exactly
 * those, and a hand-off must not change the build's inputs.
 */
export function configThatMatters(mc: MachineConfig): Record<string, unknown> {
  const spec = mc.spec ?? {};
  const config = spec.config;
  const out: Record<string, unknown> = { config: config && typeof config === 'object' && !Array.isArray(config) ? withoutSecretFiles(config as Record<string, unknown>) : (config ?? {}) };
  if (spec.kernelArguments?.length) out.kernelArguments = spec.kernelArguments;
  if (spec.extensions?.length) out.extensions = spec.extensions;
  if (spec.kernelType && spec.kernelType !== 'default') out.kernelType = spec.kernelType;
  if (spec.fips) out.fips = true;
  return { apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig', spec: out };
}

/**
 * Files of a rendered MachineConfig whose content comes from a Secret, left out
 * of every image the operator makes (the rendered-config image, and so the
 * content image built from it). MCO renders the cluster's global pull secret
 * (openshift-config/pull-secret) into every pool as /var/lib/kubelet/config.json
 * (MCO templates/common/_base/files/pull-secret.yaml); anyone who may pull the
 * image would read the cluster's registry credentials. The nodes still get the
 * file: the machine-config daemon writes the rendered config's files on the
 * node, and content under /var in an OS image is not applied on an update anyway.
 * (The internal-registry pull secret, /etc/mco/internal-registry-pull-secret.json,
 * is written by the daemon itself and is never in a MachineConfig.) docs/design.md
 * "Secrets and images".
 */
export const SECRET_FILES: readonly string[] = ['/var/lib/kubelet/config.json'];

/** The Ignition config without the storage.files entries of SECRET_FILES (a copy; the input is not changed). */
export function withoutSecretFiles(ignition: Record<string, unknown>): Record<string, unknown> {
  const storage = ignition.storage as { files?: unknown } | undefined;
  if (!storage || !Array.isArray(storage.files)) return ignition;
  const files = (storage.files as unknown[]).filter((f) => !SECRET_FILES.includes(String((f as { path?: unknown } | null)?.path ?? '')));
  if (files.length === storage.files.length) return ignition;
  return { ...ignition, storage: { ...storage, files } };
}

export type RenderedConfigCheck =
  | { ok: true; name: string; ignition: Record<string, unknown>; machineConfig: Record<string, unknown> }
  | { ok: false; message: string };

/**
 * Checks a rendered MachineConfig and returns the parts that go into the
 * scratch image: only the config that matters (configThatMatters), so an
 * unchanged config keeps its digest whatever its name, metadata or osImageURL.
 */
export function checkRenderedConfig(mc: MachineConfig): RenderedConfigCheck {
  const name = mc.metadata.name;
  if (!dnsSubdomain.test(name) || name.length > 253) {
    return { ok: false, message: `MachineConfig name ${JSON.stringify(name)} is not a valid DNS subdomain` };
  }
  const config = mc.spec?.config;
  if (config === undefined || config === null) {
    return { ok: false, message: `MachineConfig ${name} has no spec.config (Ignition config); MCO's render controller must fill it` };
  }
  if (typeof config !== 'object' || Array.isArray(config)) {
    return { ok: false, message: `MachineConfig ${name}: spec.config must be an Ignition config object` };
  }
  const parsed = IgnitionSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join('.') : '';
    return {
      ok: false,
      message: `MachineConfig ${name} has an invalid Ignition config at spec.config${where ? '.' + where : ''}: ${issue?.message ?? 'invalid'}; fix the MachineConfig that contributes it`,
    };
  }
  // The Ignition config of the image is the one in the config that matters (SECRET_FILES left out once, there).
  const machineConfig = configThatMatters(mc);
  return { ok: true, name, ignition: (machineConfig.spec as { config: Record<string, unknown> }).config, machineConfig };
}
