import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { aggregateStream, latestVersion, upcast } from '../../core/eventstore/index.ts';
import type { DomainModule, EventStoreStateMachine, EventVersion, Json, ProjectionDefinition, RecordedEvent, StoredEvent } from '../../core/eventstore/index.ts';

/** Compiles the domains' command and event schemas (every problem reported, not just the first). */
const ajv = new Ajv({ allErrors: true });
/** An aggregate's stream is folded in pages of at most this many events and about this much JSON. */
const FOLD_PAGE_EVENTS = 1000;
const FOLD_PAGE_BYTES = 8 * 2 ** 20;

/** A domain module with its schemas compiled. */
interface LoadedDomain {
  readonly module: DomainModule;
  readonly commands: ReadonlyMap<string, ValidateFunction>;
}

interface LoadedEventType {
  readonly domain: string;
  readonly versions: Readonly<Record<number, EventVersion>>;
  readonly latest: number;
  readonly validators: ReadonlyMap<number, ValidateFunction>;
}

export class DomainLoadError extends Error {
  override readonly name = 'DomainLoadError';
}

/** An aggregate's state folded from its stream, and the version it reflects (-1: no events). */
export interface AggregateView {
  readonly type: string;
  readonly id: string;
  readonly version: number;
  readonly state: Json;
}

/**
 * The domain modules a node serves: their command and event schemas compiled once, event types
 * mapped to the module that owns them, and the upcasting and folding that reads need.
 */
export class DomainRegistry {
  private readonly domains = new Map<string, LoadedDomain>();
  private readonly eventTypes = new Map<string, LoadedEventType>();

  constructor(modules: readonly DomainModule<unknown>[]) {
    const problems: string[] = [];
    for (const m of modules) problems.push(...this.add(m as DomainModule));
    const names = this.projections.map((p) => p.name);
    for (const name of new Set(names)) {
      if (!/^[a-z][a-z0-9-]{0,62}$/.test(name)) problems.push(`projection ${name}: names are lowercase letters, digits and dashes`);
      if (names.filter((n) => n === name).length > 1) problems.push(`projection ${name} is declared twice`);
    }
    if (problems.length > 0) throw new DomainLoadError(`invalid domain modules:\n  - ${problems.join('\n  - ')}`);
  }

  /** Loads every module file (.ts, .js, .mjs) of `dir`: each default-exports a DomainModule. */
  static async importDirectory(dir: string): Promise<DomainModule<unknown>[]> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /\.(m?js|ts)$/.test(n) && !n.endsWith('.d.ts')).sort();
    } catch (err) {
      throw new DomainLoadError(`cannot read the domains directory ${dir}`, { cause: err });
    }
    const modules: DomainModule<unknown>[] = [];
    for (const name of names) {
      const file = path.resolve(dir, name);
      let loaded: { default?: unknown };
      try {
        loaded = (await import(pathToFileURL(file).href)) as { default?: unknown };
      } catch (err) {
        throw new DomainLoadError(`cannot load domain module ${file}`, { cause: err });
      }
      if (loaded.default === undefined) throw new DomainLoadError(`${file} has no default export (a DomainModule)`);
      modules.push(loaded.default as DomainModule<unknown>);
    }
    return modules;
  }

  get types(): string[] {
    return [...this.domains.keys()];
  }

  get projections(): ProjectionDefinition[] {
    return [...this.domains.values()].flatMap((d) => d.module.projections ?? []);
  }

  domain(type: string): DomainModule | undefined {
    return this.domains.get(type)?.module;
  }

  /** Problems with a command's payload (empty: valid), or undefined when the command is unknown. */
  checkCommand(type: string, command: string, data: unknown): string[] | undefined {
    const validate = this.domains.get(type)?.commands.get(command);
    if (validate === undefined) return undefined;
    return validate(data) ? [] : describe(validate);
  }

  /**
   * Problems with an event about to be appended (empty: valid). Event types no module declares
   * are free-form and always valid.
   */
  checkEvent(type: string, schemaVersion: number, data: unknown): string[] {
    const known = this.eventTypes.get(type);
    if (known === undefined) return [];
    const validate = known.validators.get(schemaVersion);
    if (validate === undefined) return [`${type} has no schema version ${schemaVersion} (known: ${[...known.validators.keys()].join(', ')})`];
    return validate(data) ? [] : describe(validate);
  }

  /** The latest schema version of a declared event type. */
  latestSchemaVersion(type: string): number | undefined {
    return this.eventTypes.get(type)?.latest;
  }

  /** The event as readers see it: data upcast to the latest schema version of its type. */
  view(e: StoredEvent): { event: RecordedEvent; json: string } {
    const known = this.eventTypes.get(e.event.type);
    if (known === undefined || e.event.schemaVersion >= known.latest) return e;
    const lifted = upcast(known.versions, e.event.schemaVersion, e.event.data);
    if (lifted === undefined) return e; // no upcaster chain: serve it as stored
    const event: RecordedEvent = { ...e.event, data: lifted.data, schemaVersion: lifted.schemaVersion };
    return { event, json: JSON.stringify(event) };
  }

  /**
   * Folds an aggregate's stream into its state, reading `events` committed on this node (`head`:
   * the stream's version, when the caller knows it; see foldOn).
   */
  load(events: EventStoreStateMachine, type: string, id: string, head?: number): AggregateView {
    const module = this.domain(type);
    if (module === undefined) throw new Error(`unknown aggregate type ${type}`);
    return this.foldOn(events, { type, id, version: -1, state: module.initialState }, head);
  }

  /**
   * Folds the events of the aggregate's stream after `from.version` into `from.state`. `head`,
   * the stream's version when the caller knows it, sizes the reads to the events that are new.
   */
  foldOn(events: EventStoreStateMachine, from: AggregateView, head = Number.MAX_SAFE_INTEGER): AggregateView {
    const { type, id } = from;
    const module = this.domain(type);
    if (module === undefined) throw new Error(`unknown aggregate type ${type}`);
    const stream = aggregateStream(type, id);
    let state = from.state;
    let version = from.version;
    while (version < head) {
      const wanted = Math.min(FOLD_PAGE_EVENTS, head - version);
      const page = events.reader.readStream(stream, version + 1, wanted, 'forward', FOLD_PAGE_BYTES);
      let bytes = 0;
      for (const stored of page) {
        const { event } = this.view(stored);
        state = module.evolve(state, { type: event.type, data: event.data, version: event.version });
        version = event.version;
        bytes += stored.json.length;
      }
      // A short page is the stream's end, unless it stopped at the size budget.
      if (page.length < wanted && bytes < FOLD_PAGE_BYTES) break;
    }
    return { type, id, version, state };
  }

  private add(m: DomainModule): string[] {
    const where = `domain ${typeof m.type === 'string' ? m.type : '(no type)'}`;
    const problems = shapeProblems(m).map((p) => `${where}: ${p}`);
    if (problems.length > 0) return problems;
    if (this.domains.has(m.type)) return [`${where}: the aggregate type is declared twice`];
    const commands = new Map<string, ValidateFunction>();
    for (const [name, schema] of Object.entries(m.commands)) {
      try {
        commands.set(name, ajv.compile(schema));
      } catch (err) {
        problems.push(`${where}: command ${name}: schema does not compile: ${(err as Error).message}`);
      }
    }
    for (const [type, versions] of Object.entries(m.events)) {
      if (this.eventTypes.has(type)) {
        problems.push(`${where}: event type ${type} is declared by domain ${(this.eventTypes.get(type) as LoadedEventType).domain} too`);
        continue;
      }
      const validators = new Map<number, ValidateFunction>();
      const numbers = Object.keys(versions).map(Number).sort((a, b) => a - b);
      if (numbers.length === 0 || numbers.some((v, i) => v !== i + 1)) problems.push(`${where}: event ${type}: schema versions must be 1, 2, ... without gaps`);
      for (const v of numbers) {
        const ev = versions[v] as EventVersion;
        if (v < (numbers.at(-1) as number) && typeof ev.upcast !== 'function') problems.push(`${where}: event ${type} v${v} needs an upcast to v${v + 1}`);
        try {
          validators.set(v, ajv.compile(ev.schema));
        } catch (err) {
          problems.push(`${where}: event ${type} v${v}: schema does not compile: ${(err as Error).message}`);
        }
      }
      this.eventTypes.set(type, { domain: m.type, versions, latest: latestVersion(versions), validators });
    }
    if (problems.length === 0) this.domains.set(m.type, { module: m, commands });
    return problems;
  }
}

function shapeProblems(m: unknown): string[] {
  const o = m as Partial<Record<keyof DomainModule, unknown>> | null;
  if (o === null || typeof o !== 'object') return ['not an object'];
  const problems: string[] = [];
  if (typeof o.type !== 'string' || !/^[a-z][a-z0-9]{0,62}$/.test(o.type)) problems.push('type must be lowercase letters and digits, starting with a letter (it prefixes stream names)');
  if (!('initialState' in o)) problems.push('initialState is missing');
  if (typeof o.decide !== 'function') problems.push('decide must be a function');
  if (typeof o.evolve !== 'function') problems.push('evolve must be a function');
  if (o.commands === null || typeof o.commands !== 'object') problems.push('commands must map command names to schemas');
  if (o.events === null || typeof o.events !== 'object') problems.push('events must map event types to schema versions');
  if (o.projections !== undefined && !Array.isArray(o.projections)) problems.push('projections must be an array');
  return problems;
}

function describe(validate: ValidateFunction): string[] {
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(data)'} ${e.message ?? 'is invalid'}`);
}
