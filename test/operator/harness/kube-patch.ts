/**
 * The object algebra of the in-memory Kubernetes API server: patches (JSON merge, JSON patch,
 * server-side apply) and label selectors. Pure functions over plain JSON objects.
 */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, everything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export interface JsonPatchOp {
  readonly op: 'add' | 'remove' | 'replace' | 'test' | 'move' | 'copy';
  readonly path: string;
  readonly value?: Json;
  readonly from?: string;
}

/** RFC 6902 JSON patch. Throws PatchError on a path that does not exist or a failed test. */
export function jsonPatch(target: Json, ops: readonly JsonPatchOp[]): Json {
  let doc = structuredClone(target);
  for (const op of ops) {
    switch (op.op) {
      case 'add':
        doc = put(doc, op.path, structuredClone(op.value ?? null), 'add');
        break;
      case 'replace':
        get(doc, op.path);
        doc = put(doc, op.path, structuredClone(op.value ?? null), 'replace');
        break;
      case 'remove':
        doc = remove(doc, op.path);
        break;
      case 'test':
        if (JSON.stringify(get(doc, op.path)) !== JSON.stringify(op.value)) throw new PatchError(`test failed at ${op.path}`);
        break;
      case 'move': {
        const from = op.from ?? '';
        const value = get(doc, from);
        doc = put(remove(doc, from), op.path, value, 'add');
        break;
      }
      case 'copy':
        doc = put(doc, op.path, structuredClone(get(doc, op.from ?? '')), 'add');
        break;
      default:
        throw new PatchError(`unknown op ${String((op as { op: unknown }).op)}`);
    }
  }
  return doc;
}

export class PatchError extends Error {
  override readonly name = 'PatchError';
}

function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`bad JSON pointer ${pointer}`);
  return pointer.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function get(doc: Json, pointer: string): Json {
  let at: Json = doc;
  for (const t of tokens(pointer)) {
    if (Array.isArray(at) && /^\d+$/.test(t) && Number(t) < at.length) at = at[Number(t)] as Json;
    else if (isObject(at) && t in at) at = at[t] as Json;
    else throw new PatchError(`no value at ${pointer}`);
  }
  return at;
}

function parentOf(doc: Json, pointer: string): { parent: Json; key: string } {
  const ts = tokens(pointer);
  const key = ts.pop();
  if (key === undefined) throw new PatchError('cannot address the root here');
  const parentPointer = ts.map((t) => `/${t.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
  return { parent: get(doc, parentPointer), key };
}

function put(doc: Json, pointer: string, value: Json, mode: 'add' | 'replace'): Json {
  if (pointer === '') return value;
  const { parent, key } = parentOf(doc, pointer);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new PatchError(`bad index at ${pointer}`);
    if (mode === 'add') parent.splice(i, 0, value);
    else parent[i] = value;
  } else if (isObject(parent)) parent[key] = value;
  else throw new PatchError(`no container at ${pointer}`);
  return doc;
}

function remove(doc: Json, pointer: string): Json {
  const { parent, key } = parentOf(doc, pointer);
  if (Array.isArray(parent) && /^\d+$/.test(key) && Number(key) < parent.length) parent.splice(Number(key), 1);
  else if (isObject(parent) && key in parent) Reflect.deleteProperty(parent, key);
  else throw new PatchError(`no value at ${pointer}`);
  return doc;
}

/**
 * Server-side apply, reduced to one rule per field: the applied configuration's fields are set
 * (maps merge, lists and scalars replace), and the fields this manager applied last time but
 * leaves out now are removed. Fields set by other managers stay. What it leaves out of real SSA:
 * field-level ownership conflicts (callers apply with force, as controllers do) and merging of
 * keyed lists between managers.
 */
export function applyPatch(existing: JsonObject, previouslyApplied: JsonObject | undefined, applied: JsonObject): JsonObject {
  const base = structuredClone(existing);
  if (previouslyApplied !== undefined) dropAbandoned(base, previouslyApplied, applied);
  return deepMerge(base, applied);
}

function dropAbandoned(base: JsonObject, before: JsonObject, now: JsonObject): void {
  for (const [k, v] of Object.entries(before)) {
    const next = now[k];
    if (next === undefined) Reflect.deleteProperty(base, k);
    else if (isObject(v) && isObject(next) && isObject(base[k])) dropAbandoned(base[k], v, next);
  }
}

function deepMerge(base: JsonObject, over: JsonObject): JsonObject {
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    base[k] = isObject(v) && isObject(b) ? deepMerge(b, v) : structuredClone(v);
  }
  return base;
}

// ------------------------------------------------------------------ selectors

type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

/** Parses a label selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`). */
export function parseLabelSelector(selector: string): Requirement {
  const reqs: Requirement[] = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  for (const raw of parts.map((p) => p.trim()).filter((p) => p !== '')) {
    let m: RegExpMatchArray | null;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(raw))) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = new Set(list.split(',').map((v) => v.trim()));
      reqs.push(op === 'in' ? (l) => l[key] !== undefined && values.has(l[key]) : (l) => l[key] === undefined || !values.has(l[key]));
    } else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(raw))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      reqs.push(op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value);
    } else if ((m = /^!([\w./-]+)$/.exec(raw))) {
      const key = m[1] as string;
      reqs.push((l) => l[key] === undefined);
    } else if ((m = /^([\w./-]+)$/.exec(raw))) {
      const key = m[1] as string;
      reqs.push((l) => l[key] !== undefined);
    } else throw new PatchError(`unable to parse requirement: ${raw}`);
  }
  return (labels) => reqs.every((r) => r(labels));
}

/** Field selectors: metadata.name and metadata.namespace, `=`, `==` or `!=`. */
export function parseFieldSelector(selector: string): (obj: JsonObject) => boolean {
  const reqs = selector
    .split(',')
    .filter((p) => p.trim() !== '')
    .map((raw) => {
      const m = /^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)$/.exec(raw.trim());
      if (!m) throw new PatchError(`field selector not supported: ${raw}`);
      const [, field, op, value] = m as unknown as [string, string, string, string];
      const key = field.slice('metadata.'.length);
      return (o: JsonObject): boolean => {
        const actual = isObject(o.metadata) ? o.metadata[key] : undefined;
        return op === '!=' ? actual !== value : actual === value;
      };
    });
  return (o) => reqs.every((r) => r(o));
}
