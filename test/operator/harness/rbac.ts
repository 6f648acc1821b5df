/**
 * Kubernetes RBAC, as far as tests need it: what (verb, group, resource) a recorded API request
 * needs, and whether a set of PolicyRules grants it. Lets a test run the operator and then check
 * that the Helm chart's least-privilege rules would have allowed every call it made.
 */
import type { RecordedRequest } from './kube-api-server.ts';

export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

export interface Permission {
  readonly verb: string;
  readonly group: string;
  /** With its subresource: raftclusters/status. */
  readonly resource: string;
}

const key = (p: Permission): string => `${p.verb} ${p.group === '' ? 'core' : p.group}/${p.resource}`;

/**
 * The permissions a request needs; none for discovery (/api, /apis/<group>/<version>), which
 * every authenticated client may read. A server-side apply may create the object, so it needs
 * create as well as patch.
 */
export function permissionsFor(r: RecordedRequest): Permission[] {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/[^/]+)?\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(r.path);
  if (m === null) return [];
  const [, group = '', resource = '', name, sub] = m;
  const full = sub === undefined ? resource : `${resource}/${sub}`;
  const verbs: string[] = [];
  switch (r.method) {
    case 'GET':
      verbs.push(r.watch ? 'watch' : name === undefined ? 'list' : 'get');
      break;
    case 'POST':
      verbs.push('create');
      break;
    case 'PUT':
      verbs.push('update');
      break;
    case 'PATCH':
      verbs.push('patch');
      if (r.contentType.startsWith('application/apply-patch')) verbs.push('create');
      break;
    case 'DELETE':
      verbs.push(name === undefined ? 'deletecollection' : 'delete');
      break;
    default:
      verbs.push(r.method.toLowerCase());
  }
  return verbs.map((verb) => ({ verb, group, resource: full }));
}

function grants(rule: PolicyRule, p: Permission): boolean {
  const any = (list: readonly string[], v: string): boolean => list.includes('*') || list.includes(v);
  return any(rule.apiGroups, p.group) && any(rule.resources, p.resource) && any(rule.verbs, p.verb);
}

/** Distinct permissions the requests needed that no rule grants, as "verb group/resource". */
export function missingPermissions(requests: readonly RecordedRequest[], rules: readonly PolicyRule[]): string[] {
  const missing = new Set<string>();
  for (const r of requests) for (const p of permissionsFor(r)) if (!rules.some((rule) => grants(rule, p))) missing.add(key(p));
  return [...missing].sort();
}

/** Distinct permissions the requests used, as "verb group/resource" (to spot rules nothing uses). */
export function usedPermissions(requests: readonly RecordedRequest[]): Set<string> {
  return new Set(requests.flatMap((r) => permissionsFor(r).map(key)));
}

/** Every permission the rules grant, as "verb group/resource". */
export function grantedPermissions(rules: readonly PolicyRule[]): Set<string> {
  return new Set(rules.flatMap((rule) => rule.apiGroups.flatMap((group) => rule.resources.flatMap((resource) => rule.verbs.map((verb) => key({ verb, group, resource }))))));
}
