/** Polls `fn` until it returns something truthy (every `everyMs`), failing after `ms` naming `what`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false | null>, ms = 15_000, everyMs = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
