/**
 * 8-connected components of a binary image, computed on horizontal runs (one union-find node per
 * run, not per pixel), with per-component pixel counts and OpenCV's label order.
 *
 * OpenCV's `connectedComponentsWithStats(.., 8)` (Spaghetti / BBDT) scans 2 x 2 pixel blocks,
 * block rows of two pixel rows each, and numbers components by the first block that holds one
 * of their pixels. Two components never share a block (the pixels of a 2 x 2 block are
 * 8-adjacent), so that block index orders them totally; `roots` lists them in that order.
 */

export interface RunComponents {
  /** Number of runs. */
  numRuns: number;
  /** Per run (first `numRuns` entries): row, first column, end column (exclusive), root label. */
  runRow: Int32Array;
  runStart: Int32Array;
  runEnd: Int32Array;
  runRoot: Int32Array;
  /** Root labels of the components, in OpenCV's label order (its labels 1, 2, ...). */
  roots: number[];
  /** Pixel count per root label (indexed by root label). */
  sizes: Float64Array;
}

/**
 * Components of the pixels where `(mask[i] !== 0) XOR invert` holds (`invert` labels the zeros);
 * `mask` is row-major H x W.
 */
export function connectedComponents8(mask: ArrayLike<number>, h: number, w: number, invert: boolean): RunComponents {
  let cap = 1024;
  let runRow: Int32Array = new Int32Array(cap);
  let runStart: Int32Array = new Int32Array(cap);
  let runEnd: Int32Array = new Int32Array(cap);
  let parent: Int32Array = new Int32Array(cap); // union-find over runs, root = smallest run index
  let n = 0;

  const find = (a: number): number => {
    while (parent[a] !== a) {
      parent[a] = parent[parent[a]];
      a = parent[a];
    }
    return a;
  };
  const grow = (): void => {
    cap *= 2;
    const g = (a: Int32Array): Int32Array => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    runRow = g(runRow);
    runStart = g(runStart);
    runEnd = g(runEnd);
    parent = g(parent);
  };

  let prevFirst = 0; // runs of the previous row: [prevFirst, prevLast)
  let prevLast = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    const rowFirst = n;
    let j = prevFirst; // first previous-row run that may touch the current run
    let x = 0;
    while (x < w) {
      // Skip background, then take the run.
      if (invert) {
        while (x < w && mask[row + x] !== 0) x++;
      } else {
        while (x < w && mask[row + x] === 0) x++;
      }
      if (x >= w) break;
      const start = x;
      if (invert) {
        while (x < w && mask[row + x] === 0) x++;
      } else {
        while (x < w && mask[row + x] !== 0) x++;
      }
      const end = x;
      if (n === cap) grow();
      runRow[n] = y;
      runStart[n] = start;
      runEnd[n] = end;
      parent[n] = n;
      // 8-connected to a previous-row run [s, e) iff s <= end and e >= start (one column of slack
      // on each side). Runs ending before `start` cannot touch later runs either.
      while (j < prevLast && runEnd[j] < start) j++;
      for (let k = j; k < prevLast && runStart[k] <= end; k++) {
        const a = find(k);
        const b = find(n);
        if (a < b) parent[b] = a;
        else if (b < a) parent[a] = b;
      }
      n++;
    }
    prevFirst = rowFirst;
    prevLast = n;
  }

  const runRoot = new Int32Array(n);
  const sizes = new Float64Array(n);
  const firstBlock = new Float64Array(n).fill(Infinity);
  const blocksPerRow = (w + 1) >> 1;
  const roots: number[] = [];
  for (let r = 0; r < n; r++) {
    const root = find(r);
    runRoot[r] = root;
    sizes[root] += runEnd[r] - runStart[r];
    const block = (runRow[r] >> 1) * blocksPerRow + (runStart[r] >> 1);
    if (block < firstBlock[root]) firstBlock[root] = block;
    if (root === r) roots.push(r);
  }
  roots.sort((a, b) => firstBlock[a] - firstBlock[b]);
  return { numRuns: n, runRow, runStart, runEnd, runRoot, roots, sizes };
}
