/**
 * A linearizability checker in the manner of Porcupine (Wing & Gong's search with Lowe's
 * just-in-time linearization and memoization of visited (linearized set, state) pairs).
 * Histories are checked per partition (here: per stream, since streams are independent objects:
 * P-compositionality), which keeps each search small.
 */

export interface Operation<I, O> {
  /** When the client called it and when the answer came back (Infinity: never answered). */
  readonly call: number;
  readonly ret: number;
  readonly input: I;
  /** undefined when the outcome is unknown (never answered): any outcome is allowed. */
  readonly output: O | undefined;
}

export interface Model<S, I, O> {
  readonly init: S;
  /** The state after the operation, if the operation with this output is legal in `state`. */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** A key for memoization; equal keys mean equal states. */
  key(state: S): string;
}

interface Entry {
  readonly op: number;
  readonly isCall: boolean;
  readonly time: number;
  match: Entry | undefined; // the call's return entry
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** True when some total order of the operations, respecting real time, is legal for the model. */
export function isLinearizable<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): boolean {
  if (history.length === 0) return true;
  // Calls before returns at equal times: operations that touch in time are concurrent.
  const events = history
    .flatMap((o, i) => [
      { op: i, isCall: true, time: o.call },
      { op: i, isCall: false, time: o.ret },
    ])
    .sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Entry = { op: -1, isCall: false, time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let tail = head;
  const calls = new Map<number, Entry>();
  for (const e of events) {
    const entry: Entry = { ...e, match: undefined, prev: tail, next: undefined };
    tail.next = entry;
    tail = entry;
    if (e.isCall) calls.set(e.op, entry);
    else (calls.get(e.op) as Entry).match = entry;
  }
  const lift = (call: Entry): void => {
    const ret = call.match as Entry;
    (call.prev as Entry).next = call.next;
    if (call.next) call.next.prev = call.prev;
    (ret.prev as Entry).next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Entry): void => {
    const ret = call.match as Entry;
    (ret.prev as Entry).next = ret;
    if (ret.next) ret.next.prev = ret;
    (call.prev as Entry).next = call;
    if (call.next) call.next.prev = call;
  };

  // The set of linearized operations, as a bitset; memo keys carry it as a compact string.
  const linearized = new Uint8Array(Math.ceil(history.length / 8));
  const bitsKey = (): string => String.fromCharCode(...linearized);
  const setBit = (i: number, on: boolean): void => {
    const byte = i >> 3;
    const mask = 1 << (i & 7);
    linearized[byte] = on ? (linearized[byte] as number) | mask : (linearized[byte] as number) & ~mask;
  };
  const seen = new Set<string>();
  // `forced`: the operation left the state unchanged, so placing it as early as it is legal is
  // never worse than later (it only discharges an obligation); its alternative is not explored.
  // Without this, a burst of concurrent refused appends or reads makes the search exponential.
  const stack: { call: Entry; state: S; forced: boolean }[] = [];
  let state = model.init;
  let entry = head.next;
  while (head.next !== undefined) {
    if (entry === undefined) return false;
    if (entry.isCall) {
      const op = history[entry.op] as Operation<I, O>;
      const next = model.step(state, op.input, op.output);
      if (next !== undefined) {
        setBit(entry.op, true);
        const key = `${model.key(next)}|${bitsKey()}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ call: entry, state, forced: model.key(next) === model.key(state) });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        setBit(entry.op, false);
      }
      entry = entry.next;
    } else {
      // A return whose call cannot be placed before it: undo the last real choice.
      let top = stack.pop();
      while (top?.forced === true) {
        setBit(top.call.op, false);
        unlift(top.call);
        top = stack.pop();
      }
      if (top === undefined) return false;
      state = top.state;
      setBit(top.call.op, false);
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return true;
}

// ------------------------------------------------------------------ the stream model

export type StreamInput = { readonly kind: 'append'; readonly expected: 'any' | 'no_stream' | 'exists' | number; readonly count: number } | { readonly kind: 'read' };
export type StreamOutput = { readonly kind: 'appended'; readonly firstVersion: number } | { readonly kind: 'conflict'; readonly actual: number } | { readonly kind: 'read'; readonly version: number };

/** One stream: its state is its current version (-1: no events). */
export const streamModel: Model<number, StreamInput, StreamOutput> = {
  init: -1,
  step(version, input, output) {
    if (input.kind === 'read') return output === undefined || (output.kind === 'read' && output.version === version) ? version : undefined;
    const e = input.expected;
    const ok = e === 'any' || (e === 'no_stream' ? version === -1 : e === 'exists' ? version >= 0 : version === e);
    if (output === undefined) return ok ? version + input.count : version;
    if (output.kind === 'appended') return ok && output.firstVersion === version + 1 ? version + input.count : undefined;
    if (output.kind === 'conflict') return !ok && output.actual === version ? version : undefined;
    return undefined;
  },
  key: (version) => String(version),
};
