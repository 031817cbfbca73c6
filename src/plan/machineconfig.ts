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

const TOOLING_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

export type RenderedConfigCheck =
  | { ok: true; name: string; ignition: Record<string, unknown>; machineConfig: Record<string, unknown> }
  | { ok: false; message: string };

/**
 * Checks a rendered MachineConfig and returns the stable parts that go into the
 * scratch image: volatile metadata (uid, resourceVersion, managedFields,
 * timestamps, generation, kubectl's last-applied annotation) is dropped so an
 * unchanged config keeps its digest.
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
  const metadata: Record<string, unknown> = { name };
  if (mc.metadata.labels && Object.keys(mc.metadata.labels).length) metadata.labels = mc.metadata.labels;
  // kubectl's client-side bookkeeping is not part of the config: a re-apply must not change the digest.
  const annotations = Object.fromEntries(Object.entries(mc.metadata.annotations ?? {}).filter(([k]) => !TOOLING_ANNOTATIONS.has(k)));
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  return {
    ok: true,
    name,
    ignition: config as Record<string, unknown>,
    machineConfig: {
      apiVersion: mc.apiVersion ?? 'machineconfiguration.openshift.io/v1',
      kind: mc.kind ?? 'MachineConfig',
      metadata,
      spec: mc.spec,
    },
  };
}
