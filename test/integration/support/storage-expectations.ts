/** The payload the crash-test writer stores at `index`: deterministic, varied in size. */
export function expectedPayload(index: number): Uint8Array {
  return new TextEncoder().encode(`entry-${index}-${'x'.repeat((index * 37) % 300)}`);
}
