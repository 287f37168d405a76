/** Normalising box / point arguments given either flat or as one array per item. */

/** Flat view of `n x k` values given flat (`ArrayLike<number>`) or nested (`number[][]`). */
export function flatten(values: ArrayLike<number> | readonly (readonly number[])[], k: number, what: string): ArrayLike<number> {
  if (values.length === 0) return values as ArrayLike<number>;
  const first = (values as ArrayLike<unknown>)[0];
  if (typeof first === 'number') {
    if (values.length % k !== 0) throw new Error(`${what}: ${values.length} values are not a multiple of ${k}`);
    return values as ArrayLike<number>;
  }
  const nested = values as readonly (readonly number[])[];
  const out = new Float64Array(nested.length * k);
  for (let i = 0; i < nested.length; i++) {
    const row = nested[i];
    if (row.length !== k) throw new Error(`${what}: item ${i} has ${row.length} values, expected ${k}`);
    for (let j = 0; j < k; j++) out[i * k + j] = row[j];
  }
  return out;
}

export function isNested(values: ArrayLike<number> | readonly (readonly number[])[]): values is readonly (readonly number[])[] {
  return values.length > 0 && typeof (values as ArrayLike<unknown>)[0] !== 'number';
}
