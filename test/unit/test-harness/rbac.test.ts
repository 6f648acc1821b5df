import { describe, expect, it } from '@jest/globals';
import { missingPermissions, permissionsFor } from '../../operator/harness/rbac.ts';

/** The RBAC checker the operator's e2e test relies on: it must map requests the way Kubernetes does. */

const req = (method: string, path: string, extra: { watch?: boolean; contentType?: string } = {}) => ({ method, path, watch: extra.watch ?? false, contentType: extra.contentType ?? '' });

describe('permissionsFor', () => {
  it('maps requests to the verbs Kubernetes authorizes', () => {
    expect(permissionsFor(req('GET', '/api/v1/namespaces/a/pods'))).toEqual([{ verb: 'list', group: '', resource: 'pods' }]);
    expect(permissionsFor(req('GET', '/api/v1/pods', { watch: true }))).toEqual([{ verb: 'watch', group: '', resource: 'pods' }]);
    expect(permissionsFor(req('GET', '/api/v1/namespaces/a/secrets/s'))).toEqual([{ verb: 'get', group: '', resource: 'secrets' }]);
    expect(permissionsFor(req('PATCH', '/apis/eventraft.io/v1alpha1/namespaces/a/raftclusters/o/status'))).toEqual([{ verb: 'patch', group: 'eventraft.io', resource: 'raftclusters/status' }]);
    expect(permissionsFor(req('PATCH', '/apis/apps/v1/namespaces/a/statefulsets/o', { contentType: 'application/apply-patch+yaml' })).map((p) => p.verb)).toEqual(['patch', 'create']);
    expect(permissionsFor(req('PUT', '/apis/coordination.k8s.io/v1/namespaces/a/leases/l'))).toEqual([{ verb: 'update', group: 'coordination.k8s.io', resource: 'leases' }]);
    expect(permissionsFor(req('DELETE', '/api/v1/namespaces/a/pods'))).toEqual([{ verb: 'deletecollection', group: '', resource: 'pods' }]);
    expect(permissionsFor(req('GET', '/apis/apps/v1'))).toEqual([]);
    expect(permissionsFor(req('GET', '/api'))).toEqual([]);
  });

  it('reports what no rule grants', () => {
    const rules = [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }];
    expect(missingPermissions([req('GET', '/api/v1/pods'), req('DELETE', '/api/v1/namespaces/a/pods/p'), req('POST', '/apis/apps/v1/namespaces/a/deployments')], rules)).toEqual(['create apps/deployments', 'delete core/pods']);
  });
});
