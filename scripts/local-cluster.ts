/**
 * `npm start`: a local 3-node eventraft cluster on loopback, data in ./data/<node id>.
 * Each node is a real process running `eventraft node`; stopping this script (Ctrl-C) stops them
 * cleanly (SIGTERM). Starting it again resumes from ./data. Delete ./data for a fresh cluster.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { NODE_RUNTIME_FLAGS } from '../node/runtime-flags.ts';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'node', 'cli.ts');
const nodes = [0, 1, 2].map((i) => ({
  id: `eventraft-${i}`,
  peer: `127.0.0.1:${7001 + i}`,
  http: `127.0.0.1:${8081 + i}`,
}));
const members = nodes.map((n) => `${n.id}=${n.peer}/${n.http}`).join(',');

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const children = new Map<string, ChildProcess>();
let stopping = false;
for (const n of nodes) {
  const child = spawn(process.execPath, [...NODE_RUNTIME_FLAGS, cli, 'node'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      EVENTRAFT_NODE_ID: n.id,
      EVENTRAFT_CLUSTER_ID: 'local',
      EVENTRAFT_PEER_LISTEN: n.peer,
      EVENTRAFT_HTTP_LISTEN: n.http,
      EVENTRAFT_DATA_DIR: path.join(root, 'data', n.id),
      EVENTRAFT_INITIAL_MEMBERS: members,
    },
  });
  children.set(n.id, child);
  child.on('exit', (code, signal) => {
    children.delete(n.id);
    if (!stopping) say(`eventraft: ${n.id} exited (${signal ?? `code ${code}`}); the other nodes keep serving`);
    if (children.size === 0) process.exit(0);
  });
}

say('');
say('eventraft: local 3-node cluster starting (data in ./data). Endpoints:');
for (const n of nodes) say(`  ${n.id}  http://${n.http}   (peers: ${n.peer})`);
say('');
say('Try:');
say(`  curl -s http://${nodes[0]?.http}/v1/cluster`);
say(`  curl -s -X POST -H 'content-type: application/json' -d '{"events":[{"type":"Greeted","data":{"text":"hello"}}]}' http://${nodes[1]?.http}/v1/streams/greetings/events`);
say(`  curl -s http://${nodes[2]?.http}/v1/streams/greetings/events`);
say('Ctrl-C stops all three nodes.');
say('');

const stop = (): void => {
  if (stopping) return;
  stopping = true;
  say('eventraft: stopping the cluster');
  for (const child of children.values()) child.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
