/**
 * A bounded read-ahead queue: loads (reads and decodes) the next few items while the caller
 * works on the current one, and hands them out in the input order.
 *
 * At most `depth` items are loading or loaded-but-not-yet-taken at any time, so memory stays
 * bounded (a few decoded images) however long the list is. A load that fails does not stop
 * the queue: its error is handed out in its place, for the caller to log and skip.
 */

export interface Prefetched<I, O> {
  item: I;
  /** Position of the item in the input. */
  index: number;
  /** The loaded value (absent when the load failed). */
  value?: O;
  /** Why the load failed. */
  error?: unknown;
}

export interface PrefetchOptions {
  /** How many items may be loading or waiting (>= 1; default 3). */
  depth?: number;
  /** Stops starting new loads once aborted (items already started are still handed out). */
  signal?: AbortSignal;
}

/**
 * Yields `{ item, index, value | error }` for every item, in order, loading up to `depth`
 * ahead. Leaving the loop early (break / return / throw) stops further loads; loads already
 * started finish in the background and their results are dropped.
 */
export function prefetch<I, O>(
  items: Iterable<I>,
  load: (item: I, index: number) => Promise<O>,
  options: PrefetchOptions = {},
): AsyncGenerator<Prefetched<I, O>, void, undefined> {
  const depth = options.depth ?? 3;
  if (!Number.isInteger(depth) || depth < 1) throw new Error(`prefetch: depth must be an integer >= 1, got ${depth}`);
  return run(items, load, depth, options.signal);
}

async function* run<I, O>(
  items: Iterable<I>,
  load: (item: I, index: number) => Promise<O>,
  depth: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Prefetched<I, O>, void, undefined> {
  const source = items[Symbol.iterator]();
  const queue: Promise<Prefetched<I, O>>[] = [];
  let index = 0;
  let exhausted = false;
  const fill = () => {
    while (!exhausted && queue.length < depth && !signal?.aborted) {
      const next = source.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      const item = next.value;
      const i = index++;
      let started: Promise<O>;
      try {
        started = load(item, i);
      } catch (error) {
        started = Promise.reject(error);
      }
      // Settled into a value or an error, so nothing is ever an unhandled rejection.
      queue.push(started.then((value) => ({ item, index: i, value }), (error: unknown) => ({ item, index: i, error })));
    }
  };
  fill();
  while (queue.length > 0) {
    const head = queue[0];
    const result = await head;
    queue.shift();
    // The slot is free again: start the next load before the caller starts working.
    fill();
    yield result;
  }
}
