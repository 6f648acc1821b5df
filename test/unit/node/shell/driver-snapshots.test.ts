import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { EventStoreStateMachine, encodeCommand, proposedEvent } from '../../../../node/core/eventstore/index.ts';
import type { AppendOutcome } from '../../../../node/core/eventstore/index.ts';
import { SeededRandom } from '../../../../node/core/raft/index.ts';
import type { LogIndex, Message, MessageOf, NodeId, Snapshot } from '../../../../node/core/raft/index.ts';
import { Driver } from '../../../../node/shell/driver.ts';
import { LmdbEventStorage } from '../../../../node/shell/eventstore/index.ts';
import { DiskLogStore } from '../../../../node/shell/storage/index.ts';
import { SnapshotFileWriter } from '../../../../node/shell/storage/snapshot-files.ts';
import { until } from '../../../integration/support/node-cluster.ts';
import { withStreamedData } from '../../../support/snapshot-stream.ts';

/**
 * Log compaction with the event store, whose state lives in lmdb: three drivers in one process
 * over an in-memory network, each on a real DiskLogStore and LmdbEventStorage in a temp dir.
 * Compaction writes no copy of the state; a follower that fell behind the compaction point gets
 * the state serialized when it is sent, as a snapshot at the leader's applied index; a restarted
 * node resumes from lmdb; a node whose lmdb lost state the log no longer has refuses to start.
 */

const ids = ['a', 'b', 'c'] as NodeId[];

interface Member {
  readonly id: NodeId;
  readonly dir: string;
  store: DiskLogStore;
  events: LmdbEventStorage;
  machine: EventStoreStateMachine;
  driver: Driver<AppendOutcome>;
}

let root = '';
let members = new Map<NodeId, Member>();
const sent: Message[] = [];
/** Nodes cut off from the others (both directions). */
const isolated = new Set<NodeId>();

async function open(id: NodeId, dir: string, lmdbDir = path.join(dir, 'events')): Promise<Member> {
  const store = await DiskLogStore.open(path.join(dir, 'raft'));
  const events = LmdbEventStorage.open(lmdbDir);
  const machine = new EventStoreStateMachine(events);
  let driver: Driver<AppendOutcome>;
  try {
    driver = openDriver(id, store, machine);
  } catch (err) {
    await events.close();
    await store.close();
    throw err;
  }
  return { id, dir, store, events, machine, driver };
}

function openDriver(id: NodeId, store: DiskLogStore, machine: EventStoreStateMachine): Driver<AppendOutcome> {
  const send = (m: Message): void => {
    sent.push(m);
    if (isolated.has(m.from) || isolated.has(m.to)) return;
    setImmediate(() => members.get(m.to)?.driver.receive(m));
  };
  return Driver.open<AppendOutcome>({
    id,
    store,
    stateMachine: machine,
    transport: { send, sendSnapshot: (m, body) => {
      // As PeerTransport does: the receiver writes the data to a file in its snapshot directory
      // and hands the driver the message without data, with the file.
      sent.push(withStreamedData(m, body));
      if (isolated.has(m.from) || isolated.has(m.to)) return;
      const to = members.get(m.to);
      if (to === undefined) return;
      void receiveAsFile(to, sent.at(-1) as MessageOf<'InstallSnapshot'>);
    }, setPeers: () => undefined },
    random: new SeededRandom(ids.indexOf(id) + 11),
    log: pino({ level: 'silent' }),
    tickMs: 10,
    // Elections over 1-2 s: the leader outlives each test even on a busy machine.
    raft: { electionTick: 100, heartbeatTick: 1 },
    bootstrap: Object.fromEntries(ids.map((x) => [x, `${x}:1`])),
    snapshotThreshold: 20,
    snapshotKeepEntries: 5,
    requestTimeoutMs: 5_000,
    onFatal: (err) => {
      throw err;
    },
  });
}

async function receiveAsFile(to: Member, m: MessageOf<'InstallSnapshot'>): Promise<void> {
  const writer = await SnapshotFileWriter.create(to.store.snapshotDirectory, m.snapshot.metadata);
  for (let at = 0; at < m.snapshot.data.length; at += 64 << 10) await writer.append(m.snapshot.data.subarray(at, at + (64 << 10)));
  const file = await writer.complete();
  to.driver.receiveSnapshot({ ...m, snapshot: { ...m.snapshot, data: new Uint8Array(0) } }, file);
}

async function startCluster(): Promise<void> {
  root = await mkdtemp(path.join(os.tmpdir(), 'eventraft-driver-snap-'));
  members = new Map();
  for (const id of ids) members.set(id, await open(id, path.join(root, id)));
  for (const m of members.values()) m.driver.start();
}

async function close(m: Member): Promise<void> {
  await m.driver.stop();
  await m.events.close();
  await m.store.close();
}

const leaderOf = (): Promise<Member> => until('a leader', () => [...members.values()].find((m) => m.driver.isLeader()));

function append(leader: Member, stream: string, value: string): Promise<AppendOutcome> {
  const command = encodeCommand({ type: 'Append', timestamp: 0, appends: [{ stream, expectedVersion: 'no_stream', events: [proposedEvent({ id: `${stream}-0`, type: 'ValueWritten', data: { value } })] }] });
  return leader.driver.propose(command);
}

/** Appends value v<i> to stream s<i> for i < n, one after another, each acknowledged. */
async function appendValues(leader: Member, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await append(leader, `s${String(i)}`, `v${String(i)}`)).ok).toBe(true);
}

/**
 * A running cluster whose leader wrote values v0..v59 and compacted its log behind them while
 * one follower was cut off (it still is).
 */
async function clusterWithLaggingFollower(): Promise<{ leader: Member; lagging: Member; compacted: Snapshot }> {
  await startCluster();
  const leader = await leaderOf();
  const lagging = members.get(ids.find((id) => id !== leader.id) as NodeId) as Member;
  isolated.add(lagging.id);
  await appendValues(leader, 60);
  const compacted = await until('the leader to compact its log', () => (leader.store.firstIndex() > 20 ? leader.store.snapshot() : undefined));
  return { leader, lagging, compacted };
}

afterEach(async () => {
  await Promise.all([...members.values()].map(close));
  members.clear();
  sent.length = 0;
  isolated.clear();
  await rm(root, { recursive: true, force: true });
});

describe('log compaction behind the durable event store', () => {
  it('compacts without a copy of the state, and catches a lagging follower up with the state at the applied index', async () => {
    const { leader, lagging, compacted } = await clusterWithLaggingFollower();
    // The two connected nodes compacted their logs; their snapshots hold no copy of the state.
    expect(compacted.data.length).toBe(0);
    expect(leader.machine.appliedIndex).toBeGreaterThanOrEqual(compacted.metadata.index);
    expect(lagging.machine.appliedIndex).toBeLessThan(leader.store.firstIndex());

    isolated.clear();
    await until('the lagging follower to catch up', () => (lagging.machine.stateHash === leader.machine.stateHash ? true : undefined));
    const installs = sent.filter((m): m is Extract<Message, { type: 'InstallSnapshot' }> => m.type === 'InstallSnapshot' && m.to === lagging.id && m.snapshot.data.length > 0);
    expect(installs.length).toBeGreaterThanOrEqual(1);
    const install = installs[0] as Extract<Message, { type: 'InstallSnapshot' }>;
    // The state as applied when it was sent: at or past the compaction point the core asked for,
    // with the term and membership of that index.
    expect(install.snapshot.metadata.index).toBeGreaterThanOrEqual(compacted.metadata.index);
    expect(install.snapshot.metadata.term).toBe(leader.store.term(install.snapshot.metadata.index) ?? compacted.metadata.term);
    expect([...install.snapshot.metadata.membership.voters].sort()).toEqual([...ids].sort());
    expect(lagging.machine.nextPosition).toBe(60);
    // The received file became the follower's snapshot file; no staged file is left behind.
    const snapFiles = await readdir(lagging.store.snapshotDirectory);
    expect(snapFiles.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const installed = installs.find((i) => i.snapshot.metadata.index === lagging.store.snapshot().metadata.index);
    expect(lagging.store.snapshotDataBytes()).toBe(installed?.snapshot.data.length);
    // A stale snapshot arriving late is turned down by the core, and its file removed.
    const stale = { ...install, snapshot: { ...install.snapshot, metadata: { ...install.snapshot.metadata, index: 3 as LogIndex } } };
    await receiveAsFile(lagging, stale);
    await until('the stale file to be removed', async () => ((await readdir(lagging.store.snapshotDirectory)).some((f) => f.endsWith('.tmp')) ? undefined : true));
    expect(lagging.store.snapshot().metadata.index).toBe(installed?.snapshot.metadata.index);
    expect(lagging.events.readStream('s59', 0, 10, 'forward').map((e) => e.event.data)).toEqual([{ value: 'v59' }]);
    // It goes on replicating normally afterwards.
    expect((await append(leader, 'after', 'x')).ok).toBe(true);
    await until('the follower to apply the next write', () => (lagging.machine.nextPosition === 61 ? true : undefined));
  });

  it('a follower that installed a snapshot and lost its event store restores it from the snapshot file', async () => {
    const { leader, lagging } = await clusterWithLaggingFollower();
    isolated.clear();
    await until('the lagging follower to catch up', () => (lagging.machine.stateHash === leader.machine.stateHash ? true : undefined));
    // The installed snapshot's data is on disk, not in memory.
    expect(lagging.store.snapshotDataBytes()).toBeGreaterThan(0);
    expect(lagging.store.snapshot().data).toHaveLength(0);
    // As after a crash between installing the snapshot and restoring the event store from it.
    const installedAt = lagging.store.snapshot().metadata.index;
    await close(lagging);
    const reopened = await open(lagging.id, lagging.dir, path.join(lagging.dir, 'events-after-crash'));
    members.set(lagging.id, reopened);
    expect(reopened.machine.appliedIndex).toBe(installedAt);
    expect(reopened.events.readStream('s0', 0, 10, 'forward').map((e) => e.event.data)).toEqual([{ value: 'v0' }]);
    reopened.driver.start();
    expect((await append(leader, 'after', 'x')).ok).toBe(true);
    await until('the restored follower to apply the next write', () => (reopened.machine.nextPosition === 61 ? true : undefined));
    expect(reopened.machine.stateHash).toBe(leader.machine.stateHash);
  });

  it('a node restarted after compaction resumes from its event store and the log after the snapshot', async () => {
    await startCluster();
    const leader = await leaderOf();
    await appendValues(leader, 40);
    const follower = members.get(ids.find((id) => id !== leader.id) as NodeId) as Member;
    await until('the follower to compact and apply everything', () =>
      follower.store.firstIndex() > 20 && follower.machine.appliedIndex === leader.machine.appliedIndex ? true : undefined,
    );
    const hash = follower.machine.stateHash;
    await close(follower);
    const reopened = await open(follower.id, follower.dir);
    members.set(follower.id, reopened);
    reopened.driver.start();
    expect(reopened.machine.stateHash).toBe(hash);
    expect(reopened.store.snapshot().data.length).toBe(0);
    expect((await append(leader, 'after', 'x')).ok).toBe(true);
    await until('the restarted follower to apply the next write', () => (reopened.machine.nextPosition === 41 ? true : undefined));
  });

  it('refuses to start when the event store lost state that the compacted log no longer holds', async () => {
    await startCluster();
    const leader = await leaderOf();
    await appendValues(leader, 40);
    await until('the leader to compact its log', () => (leader.store.firstIndex() > 20 ? true : undefined));
    await close(leader);
    members.delete(leader.id);
    // The raft log survived; the event store did not (a lost or replaced volume).
    await expect(open(leader.id, leader.dir, path.join(leader.dir, 'events-empty'))).rejects.toThrow(/behind the snapshot at \d+, whose state it had stored and synced/);
  });
});
