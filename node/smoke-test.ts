/**
 * `eventraft smoke-test`: appends one event to a new stream through one endpoint and reads it back
 * at `strong` consistency through every endpoint. The Helm chart's `helm test` hook runs it; an
 * operator can run it by hand against any cluster. Exit 0 when every read returned the event.
 *
 * Events are immutable, so each run leaves its one event in `smoke-test-<time>-<random>`.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { EventraftClient, UnavailableError } from './client/index.ts';

const RETRY_PAUSE_MS = 500;

export interface SmokeTestResult {
  readonly ok: boolean;
  readonly stream: string;
  readonly appendedVia: string;
  readonly reads: readonly { readonly endpoint: string; readonly ok: boolean; readonly detail: string }[];
  readonly elapsedMs: number;
}

export const smokeTestHelp = `Usage: eventraft smoke-test --url URL [--url URL ...] [--timeout-ms N]

Appends one event to a new stream through the first URL, then reads it back at strong
consistency through every URL. Prints a JSON report; exit 0 on success, 1 on failure, 2 on
bad arguments. Retries what is safe to retry (no leader yet, network) until --timeout-ms
(default 60000).`;

export async function smokeTest(endpoints: readonly string[], timeoutMs: number): Promise<SmokeTestResult> {
  const started = Date.now();
  const [first] = endpoints;
  if (first === undefined) throw new RangeError('smokeTest needs at least one endpoint');
  const deadline = started + timeoutMs;
  const client = (endpoint: string): EventraftClient => new EventraftClient({ endpoints: [endpoint], timeoutMs: Math.min(5_000, timeoutMs), retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 } });
  // Keeps trying what is retryable (no leader yet, a pod still starting) until the deadline. A
  // retried append reuses its event id, so it is stored once however often it is sent.
  const untilDeadline = async <T>(call: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await call();
      } catch (e) {
        if (!(e instanceof UnavailableError) || Date.now() + RETRY_PAUSE_MS >= deadline) throw e;
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      }
    }
  };
  const stream = `smoke-test-${String(Date.now())}-${randomUUID().slice(0, 8)}`;
  const eventId = randomUUID();
  await untilDeadline(() => client(first).appendToStream(stream, [{ id: eventId, type: 'SmokeTested', data: { at: new Date().toISOString() } }], { expectedVersion: 'no_stream' }));
  const reads = await Promise.all(
    endpoints.map(async (endpoint) => {
      try {
        const page = await untilDeadline(() => client(endpoint).readStream(stream, { consistency: 'strong' }));
        const ok = page.events.length === 1 && page.events[0]?.id === eventId;
        return { endpoint, ok, detail: ok ? 'read back the event' : `expected 1 event ${eventId}, read ${String(page.events.length)}` };
      } catch (e) {
        return { endpoint, ok: false, detail: e instanceof Error ? e.message : String(e) };
      }
    }),
  );
  return { ok: reads.every((r) => r.ok), stream, appendedVia: first, reads, elapsedMs: Date.now() - started };
}

/** The command: parses arguments, runs, prints the report, returns the exit code. */
export async function runSmokeTest(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: { url: { type: 'string', multiple: true }, 'timeout-ms': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${smokeTestHelp}\n`);
    return 2;
  }
  if (parsed.values.help === true) {
    process.stdout.write(`${smokeTestHelp}\n`);
    return 0;
  }
  const urls = parsed.values.url ?? [];
  const timeoutMs = Number(parsed.values['timeout-ms'] ?? 60_000);
  const problems = [
    ...(urls.length === 0 ? ['--url is required'] : []),
    ...urls.filter((u) => !URL.canParse(u) || !/^https?:$/.test(new URL(u).protocol)).map((u) => `--url ${u}: not an http(s) URL`),
    ...(Number.isInteger(timeoutMs) && timeoutMs > 0 ? [] : ['--timeout-ms must be a positive integer']),
  ];
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n\n${smokeTestHelp}\n`);
    return 2;
  }
  try {
    const result = await smokeTest(urls, timeoutMs);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result.ok ? 0 : 1;
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) })}\n`);
    return 1;
  }
}
