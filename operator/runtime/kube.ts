import { ApiException, AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';

/** The field manager of every server-side apply the operator makes. */
export const FIELD_MANAGER = 'eventraft-operator';

/** The API clients the operator uses, from one kubeconfig. */
export interface Kube {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly coordination: CoordinationV1Api;
  readonly custom: CustomObjectsApi;
  readonly objects: KubernetesObjectApi;
}

/** From a kubeconfig file, or the pod's service account when running in a cluster. */
export function connect(kubeconfigPath?: string): Kube {
  const config = new KubeConfig();
  if (kubeconfigPath !== undefined) config.loadFromFile(kubeconfigPath);
  else config.loadFromDefault();
  return fromConfig(config);
}

export function fromConfig(config: KubeConfig): Kube {
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    coordination: config.makeApiClient(CoordinationV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
    objects: KubernetesObjectApi.makeApiClient(config),
  };
}

/**
 * Server-side apply: the operator states the whole object it wants and the API server merges it,
 * owning exactly those fields. Forced, as a controller's apply is: the operator is the authority
 * on the objects it owns, and a hand edit of one of its fields is put back.
 */
export async function apply<T extends KubernetesObject>(kube: Kube, object: T): Promise<T> {
  return kube.objects.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

/** JSON merge patch options for the typed clients (their default is JSON patch). */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusOf(err) === 409;

/** A short description of an API failure, for logs and Events (never the request body). */
export function describeApiError(err: unknown): string {
  if (err instanceof ApiException) {
    let message: string;
    try {
      message = (JSON.parse(String(err.body)) as { message?: string }).message ?? '';
    } catch {
      message = String(err.body).slice(0, 200);
    }
    return `HTTP ${err.code}${message === '' ? '' : `: ${message}`}`;
  }
  return err instanceof Error ? err.message : String(err);
}
