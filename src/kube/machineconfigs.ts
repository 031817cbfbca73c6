// The one delete the operator makes: its own hand-off MachineConfig (cluster-scoped).
import type * as k8s from '@kubernetes/client-node';
import type { KubeWriter } from './client.ts';
import { statusCode } from './errors.ts';
import { apiVersionOf, RESOURCES } from './types.ts';

/** Deletes a MachineConfig; one already gone is fine. */
export async function deleteMachineConfig(writer: KubeWriter, name: string): Promise<void> {
  const r = RESOURCES.machineConfig;
  try {
    await writer.objects.delete({ apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name } } as k8s.KubernetesObject);
  } catch (e) {
    if (statusCode(e) === 404) return;
    throw e;
  }
}
