/**
 * `npm run bench:snapshot`: how a member catches up by snapshot. A real 3-node cluster (fsync on)
 * is filled with `--mb` MB of 200 KB events; one follower is removed, wiped, started empty and
 * added back, and catches up from a snapshot of the whole store, streamed from the leader's lmdb
 * into a file on the follower. Reports the time to catch up, the rate, and the peak anonymous
 * memory (heap and buffers, not the page cache) of the leader and of the new member meanwhile.
 * Ends with one JSON line.
 *
 * No goal is set by an issue; what it watches is that neither end's memory grows with the store
 * (docs/event-storage.md, "Neither end holds a snapshot in memory").
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NodeCluster, until, waitForLeader } from '../test/integration/support/node-cluster.ts';
import { machineInfo } from './machine.ts';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '256' } } });
const storeMb = Number(values.mb);
const EVENT_BYTES = 200_000;
const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

/** Resident anonymous memory of a process in MB (heap, buffers, lmdb's dirty pages; not the file cache). */
async function anonMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function appliedIndex(url: string): Promise<number | undefined> {
  try {
    const view = (await (await fetch(`${url}/v1/cluster`)).json()) as { store: { appliedIndex: number } };
    return view.store.appliedIndex;
  } catch {
    return undefined; // not up yet
  }
}

async function main(): Promise<void> {
  out(`bench:snapshot  ${JSON.stringify(machineInfo())}`);
  out(`params: 3 node processes on loopback, fsync on, ${storeMb} MB of ${EVENT_BYTES / 1000} KB events, a wiped follower re-added`);
  const root = await mkdtemp(path.join(os.tmpdir(), 'eventraft-bench-snapshot-'));
  const cluster = await NodeCluster.create(root, 3, 211, { EVENTRAFT_LOG_LEVEL: 'warn', EVENTRAFT_SNAPSHOT_THRESHOLD: '200', EVENTRAFT_SNAPSHOT_KEEP_ENTRIES: '5' });
  try {
    cluster.startAll();
    const leader = await waitForLeader(cluster);
    const body = JSON.stringify({ events: [{ type: 'Blob', data: { value: 'x'.repeat(EVENT_BYTES) } }] });
    const appends = Math.ceil((storeMb * 1e6) / EVENT_BYTES);
    for (let i = 0; i < appends; i++) {
      const r = await fetch(`${cluster.url(leader)}/v1/streams/blob-${i}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (r.status !== 201) throw new Error(`append ${i}: ${r.status} ${await r.text()}`);
    }
    const leaderPid = cluster.pid(leader) as number;
    const leaderBefore = await anonMb(leaderPid);
    const member = cluster.specs.map((s) => s.id).find((id) => id !== leader) as string;
    const removed = await fetch(`${cluster.url(leader)}/v1/cluster/members/${member}`, { method: 'DELETE' });
    if (removed.status !== 200) throw new Error(`remove ${member}: ${removed.status}`);
    await cluster.stop(member, 'SIGKILL');
    await cluster.wipe(member);
    cluster.start(member, { join: true });
    const memberPid = cluster.pid(member) as number;
    let leaderPeak = leaderBefore;
    let memberPeak = 0;
    const sampler = setInterval(() => {
      void anonMb(leaderPid).then((v) => (leaderPeak = Math.max(leaderPeak, v)));
      void anonMb(memberPid).then((v) => (memberPeak = Math.max(memberPeak, v)), () => undefined);
    }, 20);
    const started = performance.now();
    const added = await fetch(`${cluster.url(leader)}/v1/cluster/members`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: member, address: cluster.address(member) }) });
    if (added.status !== 201) throw new Error(`add ${member}: ${added.status}`);
    const target = (await appliedIndex(cluster.url(leader))) as number;
    await until('the new member to catch up', async () => ((await appliedIndex(cluster.url(member))) ?? -1) >= target || undefined, 600_000);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const result = {
      bench: 'snapshot',
      commit: machineInfo().commit,
      storeMb,
      catchUpSeconds: +seconds.toFixed(2),
      mbPerSecond: +(storeMb / seconds).toFixed(1),
      leaderAnonMb: { before: Math.round(leaderBefore), peak: Math.round(leaderPeak) },
      memberAnonPeakMb: Math.round(memberPeak),
    };
    out(`catch-up   ${result.catchUpSeconds} s (${result.mbPerSecond} MB/s)`);
    out(`leader     anonymous memory ${result.leaderAnonMb.before} MB before, ${result.leaderAnonMb.peak} MB at the peak`);
    out(`new member anonymous memory ${result.memberAnonPeakMb} MB at the peak`);
    out(JSON.stringify(result));
  } finally {
    await cluster.stopAll('SIGKILL');
    await rm(root, { recursive: true, force: true });
  }
}

await main();
