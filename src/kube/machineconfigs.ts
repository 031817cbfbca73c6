// The one delete the operator makes: its own hand-off MachineConfig (cluster-scoped),
// addressed by its plural (never by kind lookup, see src/kube/client.ts).
import type { KubeWriter } from './client.ts';
import { statusCode } from './errors.ts';
import { RESOURCES } from './types.ts';

/** Deletes a MachineConfig; one already gone is fine. */
export async function deleteMachineConfig(writer: KubeWriter, name: string): Promise<void> {
  const r = RESOURCES.machineConfig;
  try {
    await writer.custom.deleteClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, name });
  } catch (e) {
    if (statusCode(e) === 404) return;
    throw e;
  }
}
