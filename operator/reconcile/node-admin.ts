/**
 * The operator's client of a node's cluster API (ARCHITECTURE §6): status from any node, and the
 * admin calls (membership, leadership), which only the leader accepts. Every call has a deadline:
 * a reconcile never waits on a stuck pod.
 */

/** What GET /v1/cluster answers. */
export interface NodeClusterView {
  readonly id: string;
  /** follower | precandidate | candidate | leader. */
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: readonly { readonly id: string; readonly role: 'voter' | 'learner'; readonly address: string | null; readonly match: number | null }[];
}

/** A node answered an admin call with an error (problem+json `code`), or could not be reached. */
export class NodeAdminError extends Error {
  override readonly name = 'NodeAdminError';
  readonly call: string;
  /** The HTTP status; undefined when the node could not be reached. */
  readonly status: number | undefined;
  readonly code: string | undefined;

  constructor(call: string, status: number | undefined, code: string | undefined, detail: string, options?: ErrorOptions) {
    super(`${call}: ${status === undefined ? 'unreachable' : `${String(status)} ${code ?? ''}`.trim()}: ${detail}`, options);
    this.call = call;
    this.status = status;
    this.code = code;
  }
}

export class NodeAdmin {
  private readonly timeoutMs: number;

  constructor(options: { timeoutMs?: number } = {}) {
    this.timeoutMs = options.timeoutMs ?? 2_000;
  }

  /** The node's view of the cluster; undefined when it cannot be reached or is not up. */
  async status(httpAddress: string): Promise<NodeClusterView | undefined> {
    try {
      const res = await fetch(`http://${httpAddress}/v1/cluster`, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (!res.ok) return undefined;
      return (await res.json()) as NodeClusterView;
    } catch {
      return undefined;
    }
  }

  addLearner(leader: string, token: string, id: string, address: string): Promise<void> {
    return this.call('add learner', leader, token, 'POST', '/v1/cluster/members', { id, address });
  }

  promote(leader: string, token: string, id: string): Promise<void> {
    return this.call('promote', leader, token, 'POST', `/v1/cluster/members/${encodeURIComponent(id)}/promote`);
  }

  remove(leader: string, token: string, id: string): Promise<void> {
    return this.call('remove member', leader, token, 'DELETE', `/v1/cluster/members/${encodeURIComponent(id)}`);
  }

  transferLeadership(leader: string, token: string, to: string): Promise<void> {
    return this.call('transfer leadership', leader, token, 'POST', '/v1/cluster/leadership', { to });
  }

  private async call(what: string, address: string, token: string, method: string, path: string, body?: unknown): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`http://${address}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        // A membership change waits for its entry to commit: allow more than a status read.
        signal: AbortSignal.timeout(this.timeoutMs * 3),
      });
    } catch (err) {
      throw new NodeAdminError(what, undefined, undefined, `${address} ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (res.ok) {
      await res.arrayBuffer();
      return;
    }
    const problem = (await res.json().catch(() => ({}))) as { code?: string; detail?: string; title?: string };
    throw new NodeAdminError(what, res.status, problem.code, problem.detail ?? problem.title ?? '');
  }
}
