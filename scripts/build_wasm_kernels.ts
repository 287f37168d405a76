/**
 * `npm run build:kernels`: assembles the WebAssembly text of src/backends/wasm_simd with
 * wabt (a dev dependency) into the TypeScript files the library loads:
 * - kernels.wat -> kernels_wasm.ts, four binaries: one importing a shared memory (tfjs-wasm's
 *   threaded build) and one a plain memory, and the same two with the matMul kernels' multiply
 *   and add (and the polynomial steps of GELU and softmax's exp) as one relaxed-SIMD
 *   multiply-add (`fmaVariant`);
 * - mask_rows.wat -> mask_rows_wasm.ts, two binaries: one with its own memory, one importing
 *   a shared memory (for its helper threads).
 * The generated files are committed; test/wasm_kernels.test.ts checks that they match their
 * sources.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';
import { writeFileAtomic } from '../src/io/atomic_write.js';

export const WAT_PATH = 'src/backends/wasm_simd/kernels.wat';
export const GENERATED_PATH = 'src/backends/wasm_simd/kernels_wasm.ts';
export const MASK_ROWS_WAT_PATH = 'src/backends/wasm_simd/mask_rows.wat';
export const MASK_ROWS_GENERATED_PATH = 'src/backends/wasm_simd/mask_rows_wasm.ts';
const SHARED_IMPORT = '(memory 1 65536 shared)';
const FEATURES = { simd: true, threads: true };
const FMA_FEATURES = { ...FEATURES, relaxed_simd: true };

async function assemble(path: string, text: string, features: object = FEATURES): Promise<Uint8Array> {
  const w = await wabt();
  const mod = w.parseWat(path, text, features);
  try {
    // wabt's typings omit validate's features argument; without it, shared memory fails.
    (mod as unknown as { validate(features: object): void }).validate(features);
    return mod.toBinary({ log: false, write_debug_names: false }).buffer.slice();
  } finally {
    mod.destroy();
  }
}

/** The functions whose accumulations fmaVariant fuses: gemm_packed's panels (SamMatMul, SamHeadValues), gemm_batched's tiles and loop (SamBatchMatMul), head_scores (SamHeadScores). */
const FMA_FUNCTIONS = ['$panel6x8', '$panel4x8', '$panel1x8', '$tile6x8', '$tile6x4', '$tile4x8', '$tile4x4', '$gemm_scalar', '$head_scores'];
/** Their accumulations: 12 + 8 + 2 in the panels, 12 + 6 + 8 + 4 in the tiles, 1 in the scalar loop, 30 in the heads' scores. */
const FMA_SITES = 83;
/**
 * Polynomial steps `a * b + c` (c a constant) that fmaVariant fuses, by function: GELU's (11 a
 * vector, 3 vectors an iteration of $gelu12) and softmax's exp (6 a copy: the range
 * reduction's a * log2(e) + 1.5 * 2^23 and Cephes' 5 coefficients; softmax_rows holds two
 * copies, its vector loop's and its tail's, and $exp_minus one for softmax4_short).
 */
const POLYNOMIAL_SITES: Readonly<Record<string, number>> = { $gelu12: 33, $exp_minus: 6, softmax_rows: 12 };
const POLYNOMIAL_STEP = /\(f32x4\.add \(f32x4\.mul (\(local\.get \$\w+\)) (\(local\.get \$\w+\)|\(v128\.const f32x4 [^)]+\))\) (\(v128\.const f32x4 [^)]+\))\)/g;
const VECTOR_ACCUMULATION = /\(f32x4\.add \(local\.get (\$c\d\d)\) \(f32x4\.mul \(local\.get \$s\) (\(local\.get \$b\d\)|\(v128\.load offset=\d+ \(local\.get \$p\)\))\)\)/g;
const SCALAR_ACCUMULATION = /\(f32\.add \(local\.get \$acc\) \(f32\.mul (\(f32\.load \(local\.get \$pa\)\)) (\(f32\.load \(local\.get \$pb\)\))\)\)/g;

/**
 * kernels.wat with each accumulation `acc + a * b` of the matMul kernels written as one
 * relaxed-SIMD multiply-add (`f32x4.relaxed_madd a b acc`; the scalar loop's on lane 0 of
 * splats), which engines run as a fused multiply-add where the CPU has one (one rounding
 * instead of two). Only the products, GELU and softmax change: every output of SamMatMul,
 * SamBatchMatMul and the per-head SamHeadScores / SamHeadValues computed one way (so the
 * per-head products still equal the block-diagonal SamMatMul they replace), and GELU's
 * polynomial steps (its rational term and exp, `a * b + c` with c a constant; 2.1M values on
 * one thread 4.1-5.3 ms against 5.4-5.7 ms, and SamGelu on [16384, 128] with the helper
 * thread 1.95-2.58 / 2.18-2.73 ms best / median against 2.37-2.50 / 2.47-2.62 ms, three
 * rounds alternately: scratch timings; its largest error against float64 GELU measured the
 * same as the plain variant's, 2.1e-7, and test/wasm_fma.test.ts holds it to the plain one's
 * bound), and softmax's exp (SamSoftmax, and so SamAttention, which runs the same code: a
 * block of 24 rows of 4096 values with the relative-position terms on one thread 0.155-0.159
 * against 0.184-0.191 ms best, two runs of 300 alternating calls, scratch timings;
 * test/wasm_fma.test.ts holds its error against float64 softmax to twice the plain
 * variant's on the same inputs); the other kernels keep their values.
 */
export function fmaVariant(wat: string): string {
  let sites = 0;
  const polynomialSites: Record<string, number> = {};
  const out = wat.replace(/\(func (\$\w+|\(export "\w+"\))[\s\S]*?(?=\n  \(func |\n  ;;|\n\)\s*$)/g, (fn, head: string) => {
    const name = head.startsWith('(export') ? head.slice(9, -2) : head;
    if (name in POLYNOMIAL_SITES) {
      return fn.replace(POLYNOMIAL_STEP, (_m, a: string, b: string, c: string) => {
        polynomialSites[name] = (polynomialSites[name] ?? 0) + 1;
        return `(f32x4.relaxed_madd ${a} ${b} ${c})`;
      });
    }
    if (!FMA_FUNCTIONS.includes(name)) return fn;
    return fn
      .replace(VECTOR_ACCUMULATION, (_m, acc: string, b: string) => {
        sites++;
        return `(f32x4.relaxed_madd (local.get $s) ${b} (local.get ${acc}))`;
      })
      .replace(SCALAR_ACCUMULATION, (_m, x: string, y: string) => {
        sites++;
        return `(f32x4.extract_lane 0 (f32x4.relaxed_madd (f32x4.splat ${x}) (f32x4.splat ${y}) (f32x4.splat (local.get $acc))))`;
      });
  });
  if (sites !== FMA_SITES) throw new Error(`${WAT_PATH}: expected ${FMA_SITES} accumulations in ${FMA_FUNCTIONS.join(', ')} to fuse, found ${sites}`);
  for (const [name, want] of Object.entries(POLYNOMIAL_SITES)) {
    const found = polynomialSites[name] ?? 0;
    if (found !== want) throw new Error(`${WAT_PATH}: expected ${want} polynomial steps in ${name} to fuse, found ${found}`);
  }
  return out;
}

export interface KernelBinaries {
  shared: Uint8Array;
  plain: Uint8Array;
  sharedFma: Uint8Array;
  plainFma: Uint8Array;
}

/** The binaries for a shared and a plain memory import, each without and with fused matMuls. */
export async function assembleKernels(wat: string): Promise<KernelBinaries> {
  if (!wat.includes(SHARED_IMPORT)) throw new Error(`${WAT_PATH}: expected the memory import ${SHARED_IMPORT}`);
  const plain = wat.replace(SHARED_IMPORT, '(memory 1)');
  return {
    shared: await assemble(WAT_PATH, wat),
    plain: await assemble(WAT_PATH, plain),
    sharedFma: await assemble(WAT_PATH, fmaVariant(wat), FMA_FEATURES),
    plainFma: await assemble(WAT_PATH, fmaVariant(plain), FMA_FEATURES),
  };
}

const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');

/** The text of kernels_wasm.ts for these binaries. */
export function generatedSource(bins: KernelBinaries): string {
  return [
    `// Generated by scripts/build_wasm_kernels.ts from kernels.wat: do not edit. Rebuild: npm run build:kernels`,
    `/** kernels.wat importing a shared memory (tfjs-wasm's threaded build), base64. */`,
    `export const KERNELS_SHARED_MEMORY = '${b64(bins.shared)}';`,
    `/** kernels.wat importing a plain memory, base64. */`,
    `export const KERNELS_PLAIN_MEMORY = '${b64(bins.plain)}';`,
    `/** The same with fused matMuls (relaxed SIMD), importing a shared memory, base64. */`,
    `export const KERNELS_SHARED_MEMORY_FMA = '${b64(bins.sharedFma)}';`,
    `/** The same with fused matMuls (relaxed SIMD), importing a plain memory, base64. */`,
    `export const KERNELS_PLAIN_MEMORY_FMA = '${b64(bins.plainFma)}';`,
    '',
  ].join('\n');
}

const MASK_ROWS_MEMORY = '(memory (export "memory") 1)';

/** The text of mask_rows_wasm.ts for mask_rows.wat. */
export async function maskRowsSource(wat: string): Promise<string> {
  if (!wat.includes(MASK_ROWS_MEMORY)) throw new Error(`${MASK_ROWS_WAT_PATH}: expected the memory ${MASK_ROWS_MEMORY}`);
  // The variant for helper threads: the same functions on an imported shared memory (exported again).
  const shared = wat.replace(MASK_ROWS_MEMORY, '(import "env" "memory" (memory 1 65536 shared))\n  (export "memory" (memory 0))');
  return [
    `// Generated by scripts/build_wasm_kernels.ts from mask_rows.wat: do not edit. Rebuild: npm run build:kernels`,
    `/** mask_rows.wat (its own memory), base64. */`,
    `export const MASK_ROWS = '${b64(await assemble(MASK_ROWS_WAT_PATH, wat))}';`,
    `/** mask_rows.wat importing a shared memory (its helper threads, mask_rows_workers_node.ts), base64. */`,
    `export const MASK_ROWS_SHARED = '${b64(await assemble(MASK_ROWS_WAT_PATH, shared))}';`,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outputs: Array<[string, string]> = [
    [GENERATED_PATH, generatedSource(await assembleKernels(readFileSync(WAT_PATH, 'utf8')))],
    [MASK_ROWS_GENERATED_PATH, await maskRowsSource(readFileSync(MASK_ROWS_WAT_PATH, 'utf8'))],
  ];
  for (const [path, text] of outputs) {
    await writeFileAtomic(path, text);
    console.log(`wrote ${path} (${text.length} bytes)`);
  }
}
