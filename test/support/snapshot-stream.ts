import type { MessageOf } from '../../node/core/raft/index.ts';
import type { SnapshotStream } from '../../node/core/state-machine.ts';

/** The InstallSnapshot a transport would deliver: `m` with all of `body` as its data (closed after). */
export function withStreamedData(m: MessageOf<'InstallSnapshot'>, body: SnapshotStream): MessageOf<'InstallSnapshot'> {
  const parts: Uint8Array[] = [];
  try {
    for (let slice = body.next(); slice !== undefined; slice = body.next()) parts.push(slice);
  } finally {
    body.close();
  }
  return { ...m, snapshot: { ...m.snapshot, data: Buffer.concat(parts) } };
}
