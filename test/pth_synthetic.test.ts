/**
 * The checkpoint reader on synthetic checkpoints built here (no Python torch available): dtypes,
 * float16 / bfloat16 conversion, strided and offset views, shared storages, wrapped state dicts,
 * zip variants (deflate, ZIP64, folder names, big-endian) and the legacy format's storage views.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type TorchTensor,
  float16BitsToNumber,
  loadStateDict,
  openCheckpoint,
  pickleAttributes,
  resolveTorchGlobal,
  toFloat32,
  unpickle,
  unwrapStateDict,
} from '../converter/index.js';
import { rejectsWith } from './helpers/pth_sources.js';
import {
  type PyValue,
  type SynthCheckpoint,
  type SynthStorage,
  type TorchZipOptions,
  bytesOf,
  contiguousStride,
  float,
  persid,
  glob,
  reduce,
  torchLegacy,
  torchZip,
  tuple,
  writePickle,
  writeZip,
} from './helpers/pth_writer.js';

type Format = 'zip' | 'legacy';
const FORMATS: Format[] = ['zip', 'legacy'];

function make(ck: SynthCheckpoint, format: Format, zipOptions: TorchZipOptions = {}): Uint8Array {
  return format === 'zip' ? torchZip(ck, zipOptions) : torchLegacy(ck);
}

const f32 = (...v: number[]): SynthStorage['bytes'] => bytesOf(Float32Array.from(v));
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Values of a tensor as plain numbers (bigint for int64). */
function values(t: TorchTensor): (number | bigint)[] {
  return Array.from(t.data as ArrayLike<number | bigint>);
}

// ------------------------------------------------------------------ float16 / bfloat16

const F16_CASES: [number, number][] = [
  [0x0000, 0],
  [0x8000, -0],
  [0x3c00, 1],
  [0xc000, -2],
  [0x3555, 0.333251953125],
  [0x7bff, 65504],
  [0x0001, 2 ** -24], // smallest subnormal
  [0x03ff, 1023 * 2 ** -24], // largest subnormal
  [0x8200, -(512 * 2 ** -24)],
  [0x0400, 2 ** -14], // smallest normal
  [0x7c00, Infinity],
  [0xfc00, -Infinity],
  [0x7e00, NaN],
  [0xfd01, NaN],
];

const BF16_CASES: [number, number][] = [
  [0x0000, 0],
  [0x8000, -0],
  [0x3f80, 1],
  [0xc040, -3],
  [0x4049, 3.140625],
  [0x0001, 2 ** -133], // subnormal
  [0x7f7f, 3.3895313892515355e38], // max
  [0x7f80, Infinity],
  [0xff80, -Infinity],
  [0x7fc0, NaN],
];

function sameFloat(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

test('float16BitsToNumber is exact', () => {
  for (const [bits, v] of F16_CASES) assert.ok(sameFloat(float16BitsToNumber(bits), v), `0x${bits.toString(16)}`);
});

test('toFloat32 of float16: every one of the 65536 bit patterns is exact', () => {
  const all = Uint16Array.from(range(65536));
  const out = toFloat32({ dtype: 'float16', shape: [65536], data: all });
  for (let b = 0; b < 65536; b++) {
    assert.ok(sameFloat(out[b], float16BitsToNumber(b)), `0x${b.toString(16)}: ${out[b]} vs ${float16BitsToNumber(b)}`);
  }
  const nanBits = new Uint32Array(out.buffer);
  assert.is(nanBits[0x7e01], 0x7fc02000, 'NaN payload kept');
});

for (const format of FORMATS) {
  test(`${format}: float16 and bfloat16 tensors (raw bits, exact toFloat32)`, async () => {
    const sd = await loadStateDict(
      make(
        {
          storages: [
            { key: '0', dtype: 'float16', bytes: bytesOf(Uint16Array.from(F16_CASES.map((c) => c[0]))) },
            { key: '1', dtype: 'bfloat16', bytes: bytesOf(Uint16Array.from(BF16_CASES.map((c) => c[0]))) },
          ],
          tensors: [
            { name: 'half', storage: '0', shape: [F16_CASES.length] },
            { name: 'brain', storage: '1', shape: [BF16_CASES.length] },
          ],
        },
        format,
      ),
    );
    const h = sd.get('half')!;
    assert.is(h.dtype, 'float16');
    assert.instance(h.data, Uint16Array);
    assert.equal(values(h), F16_CASES.map((c) => c[0]));
    const hf = toFloat32(h);
    F16_CASES.forEach(([bits, v], i) => assert.ok(sameFloat(hf[i], v), `f16 0x${bits.toString(16)} -> ${hf[i]}`));
    const b = sd.get('brain')!;
    assert.is(b.dtype, 'bfloat16');
    const bf = toFloat32(b);
    BF16_CASES.forEach(([bits, v], i) => assert.ok(sameFloat(bf[i], Math.fround(v)), `bf16 0x${bits.toString(16)} -> ${bf[i]}`));
  });

  test(`${format}: all integer, bool and float64 dtypes`, async () => {
    const i64 = BigInt64Array.from([0n, -5n, 2n ** 40n + 1n, 2n ** 62n, -(2n ** 63n)]);
    const sd = await loadStateDict(
      make(
        {
          storages: [
            { key: 'a', dtype: 'int64', bytes: bytesOf(i64) },
            { key: 'b', dtype: 'int32', bytes: bytesOf(Int32Array.from([-(2 ** 31), 7, 2 ** 31 - 1])) },
            { key: 'c', dtype: 'int16', bytes: bytesOf(Int16Array.from([-32768, 1, 32767])) },
            { key: 'd', dtype: 'int8', bytes: bytesOf(Int8Array.from([-128, 0, 127])) },
            { key: 'e', dtype: 'uint8', bytes: Uint8Array.from([0, 128, 255]) },
            { key: 'f', dtype: 'bool', bytes: Uint8Array.from([1, 0, 1, 1]) },
            { key: 'g', dtype: 'float64', bytes: bytesOf(Float64Array.from([Math.PI, -1e300, 5e-324])) },
            { key: 'h', dtype: 'float32', bytes: f32(1.5, -2.25) },
          ],
          tensors: [
            { name: 'num_batches_tracked', storage: 'a', shape: [] , offset: 1 },
            { name: 'i64', storage: 'a', shape: [5] },
            { name: 'i32', storage: 'b', shape: [3] },
            { name: 'i16', storage: 'c', shape: [3] },
            { name: 'i8', storage: 'd', shape: [3] },
            { name: 'u8', storage: 'e', shape: [3] },
            { name: 'mask', storage: 'f', shape: [2, 2] },
            { name: 'f64', storage: 'g', shape: [3] },
            { name: 'f32', storage: 'h', shape: [2] },
          ],
        },
        format,
      ),
    );
    const scalar = sd.get('num_batches_tracked')!;
    assert.equal(scalar.shape, []);
    assert.equal(values(scalar), [-5n]);
    const t = sd.get('i64')!;
    assert.instance(t.data, BigInt64Array);
    assert.equal(values(t), Array.from(i64));
    assert.equal(Array.from(toFloat32(t)), [0, -5, 2 ** 40, 2 ** 62, -(2 ** 63)]);
    assert.instance(sd.get('i32')!.data, Int32Array);
    assert.equal(values(sd.get('i32')!), [-(2 ** 31), 7, 2 ** 31 - 1]);
    assert.instance(sd.get('i16')!.data, Int16Array);
    assert.equal(values(sd.get('i16')!), [-32768, 1, 32767]);
    assert.instance(sd.get('i8')!.data, Int8Array);
    assert.equal(values(sd.get('i8')!), [-128, 0, 127]);
    assert.instance(sd.get('u8')!.data, Uint8Array);
    assert.equal(values(sd.get('u8')!), [0, 128, 255]);
    assert.is(sd.get('mask')!.dtype, 'bool');
    assert.equal(Array.from(toFloat32(sd.get('mask')!)), [1, 0, 1, 1]);
    assert.instance(sd.get('f64')!.data, Float64Array);
    assert.equal(values(sd.get('f64')!), [Math.PI, -1e300, 5e-324]);
    assert.equal(Array.from(toFloat32(sd.get('f64')!)), [Math.fround(Math.PI), -Infinity, 0]);
    const f = sd.get('f32')!;
    assert.is(toFloat32(f), f.data, 'float32 is returned as is');
  });

  // ------------------------------------------------------------------ views

  test(`${format}: strided, offset, expanded and shared-storage views become contiguous copies`, async () => {
    const s = range(24);
    const ck: SynthCheckpoint = {
      storages: [{ key: 's', dtype: 'float32', bytes: f32(...s) }],
      tensors: [
        { name: 'whole', storage: 's', shape: [2, 3, 4] },
        // a 4x3 transposed into 3x4: t[i][j] = s[i + 3j]
        { name: 'transposed', storage: 's', shape: [3, 4], stride: [1, 3] },
        // every other element of rows, starting at 1: t[i][j] = s[1 + 4i + 2j]
        { name: 'offset_strided', storage: 's', offset: 1, shape: [2, 2], stride: [4, 2] },
        // a slice of the storage (offset, contiguous): as torch saves views of a bigger tensor
        { name: 'slice', storage: 's', offset: 20, shape: [4] },
        // permuted 3-d: t[a][b][c] = s[a*1 + b*12 + c*4] with shape [4, 2, 3]
        { name: 'permuted', storage: 's', shape: [4, 2, 3], stride: [1, 12, 4] },
        // expand: stride 0
        { name: 'expanded', storage: 's', offset: 5, shape: [3, 2], stride: [0, 1] },
        // size-1 dim with an arbitrary stride is still contiguous
        { name: 'unit_dim', storage: 's', offset: 2, shape: [1, 3], stride: [99, 1] },
        { name: 'empty', storage: 's', offset: 24, shape: [0, 5] },
        { name: 'param', storage: 's', offset: 3, shape: [2], parameter: true },
      ],
    };
    const sd = await loadStateDict(make(ck, format));
    assert.equal([...sd.keys()], ck.tensors.map((t) => t.name));
    assert.equal(values(sd.get('whole')!), s);
    const transposed: number[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) transposed.push(s[i + 3 * j]);
    assert.equal(values(sd.get('transposed')!), transposed);
    assert.equal(sd.get('transposed')!.shape, [3, 4]);
    assert.equal(values(sd.get('offset_strided')!), [1, 3, 5, 7]);
    assert.equal(values(sd.get('slice')!), [20, 21, 22, 23]);
    const permuted: number[] = [];
    for (let a = 0; a < 4; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) permuted.push(s[a + 12 * b + 4 * c]);
    assert.equal(values(sd.get('permuted')!), permuted);
    assert.equal(values(sd.get('expanded')!), [5, 6, 5, 6, 5, 6]);
    assert.equal(values(sd.get('unit_dim')!), [2, 3, 4]);
    assert.equal(sd.get('empty')!.shape, [0, 5]);
    assert.is(sd.get('empty')!.data.length, 0);
    assert.equal(values(sd.get('param')!), [3, 4]);
    // loaded data never aliases another tensor's memory
    (sd.get('whole')!.data as Float32Array)[0] = 100;
    assert.is((sd.get('transposed')!.data as Float32Array)[0], 0);
  });

  test(`${format}: strided int64 and float16 views`, async () => {
    const sd = await loadStateDict(
      make(
        {
          storages: [
            { key: 'l', dtype: 'int64', bytes: bytesOf(BigInt64Array.from(range(6).map((i) => BigInt(i) * 10n ** 15n))) },
            { key: 'h', dtype: 'float16', bytes: bytesOf(Uint16Array.from([0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600])) },
          ],
          tensors: [
            { name: 'lt', storage: 'l', shape: [3, 2], stride: [1, 3] },
            { name: 'ht', storage: 'h', offset: 1, shape: [2, 2], stride: [1, 2] },
          ],
        },
        format,
      ),
    );
    const e = (i: number): bigint => BigInt(i) * 10n ** 15n;
    assert.equal(values(sd.get('lt')!), [e(0), e(3), e(1), e(4), e(2), e(5)]);
    assert.equal(Array.from(toFloat32(sd.get('ht')!)), [2, 4, 3, 5]);
  });

  test(`${format}: a view that runs past its storage is reported as corrupt`, async () => {
    const bytes = make(
      { storages: [{ key: '0', dtype: 'float32', bytes: f32(1, 2, 3) }], tensors: [{ name: 'w', storage: '0', offset: 1, shape: [3] }] },
      format,
    );
    await rejectsWith(() => openCheckpoint(bytes), /corrupt checkpoint: tensor 'w'/, /reaches byte 16/);
  });

  test(`${format}: an absurdly large (expanded) tensor fails with a clear error, not a RangeError`, async () => {
    const bytes = make(
      { storages: [{ key: '0', dtype: 'float32', bytes: f32(1) }], tensors: [{ name: 'x', storage: '0', shape: [2 ** 20, 2 ** 20], stride: [0, 0] }] },
      format,
    );
    const ckpt = await openCheckpoint(bytes);
    await rejectsWith(() => ckpt.entries[0].load(), /cannot allocate 4398046511104 bytes for tensor 'x'/);
  });

  test(`${format}: unsupported dtypes are named with the tensor`, async () => {
    const bytes = make(
      {
        storages: [{ key: '0', dtype: 'complex64', bytes: new Uint8Array(16) }],
        tensors: [{ name: 'freqs', storage: '0', shape: [2] }],
      },
      format,
    );
    await rejectsWith(() => openCheckpoint(bytes), /tensor 'freqs' has dtype complex64 \(torch\.ComplexFloatStorage\)/, /supported: float32/);
  });

  // ------------------------------------------------------------------ wrapped state dicts

  test(`${format}: state dicts wrapped in a dict are found (and can be named)`, async () => {
    const storages: SynthStorage[] = [{ key: '0', dtype: 'float32', bytes: f32(1, 2) }];
    const tensors = [{ name: 'layer.weight', storage: '0', shape: [2] }];
    for (const wrapKey of ['model', 'state_dict', 'model_state_dict', 'whatever']) {
      const bytes = make(
        {
          storages,
          tensors,
          wrap: (sd) => new Map([
            ['epoch', 3],
            ['lr', float(0.1)],
            ['optimizer', new Map([['param_groups', [new Map([['lr', float(0.1)]])]]])],
            [wrapKey, sd],
          ]),
        },
        format,
      );
      const sd = await loadStateDict(bytes);
      assert.equal([...sd.keys()], ['layer.weight'], wrapKey);
      const ckpt = await openCheckpoint(bytes, { stateDictKey: wrapKey });
      assert.equal(ckpt.entries.map((e) => e.key), ['layer.weight']);
      assert.ok(ckpt.root instanceof Map && (ckpt.root as Map<string, unknown>).get('epoch') === 3);
      await rejectsWith(() => openCheckpoint(bytes, { stateDictKey: 'nope' }), /has no key 'nope'; its keys are \['epoch', 'lr', 'optimizer'/);
      await rejectsWith(() => openCheckpoint(bytes, { stateDictKey: 'optimizer' }), /'optimizer' is not a dict of tensors/);
    }
    // nested: {"ema": {"model": sd}} via a path
    const nested = make({ storages, tensors, wrap: (sd) => new Map([['ema', new Map([['model', sd]])], ['x', sd]]) }, format);
    const ck = await openCheckpoint(nested, { stateDictKey: ['ema', 'model'] });
    assert.equal(ck.entries.map((e) => e.key), ['layer.weight']);
    // two candidate dicts and no preferred key: ambiguous
    const two = make({ storages, tensors, wrap: (sd) => new Map([['a', sd], ['b', sd]]) }, format);
    await rejectsWith(() => openCheckpoint(two), /cannot find the state dict: .*keys \['a', 'b'\].*stateDictKey/);
    const none = make({ storages: [], tensors: [], wrap: () => new Map([['epoch', 3]]) }, format);
    await rejectsWith(() => openCheckpoint(none), /cannot find the state dict/);
    const list = make({ storages, tensors, wrap: (sd) => [sd] }, format);
    await rejectsWith(() => openCheckpoint(list), /holds a list\/tuple, not a dict of tensors/);
  });
}

test('unwrapStateDict also works on loaded tensors and plain objects', () => {
  const t: TorchTensor = { dtype: 'float32', shape: [1], data: new Float32Array(1) };
  const sd = new Map([['w', t]]);
  assert.is(unwrapStateDict(new Map<string, unknown>([['model', sd], ['step', 10]])), sd);
  assert.is(unwrapStateDict(sd), sd);
  assert.is(unwrapStateDict(new Map()).size, 0);
});

test('the state dict _metadata (BUILD state) is kept as a pickle attribute', async () => {
  const ckpt = await openCheckpoint(
    torchZip({ storages: [{ key: '0', dtype: 'float32', bytes: f32(1) }], tensors: [{ name: 'w', storage: '0', shape: [1] }] }),
  );
  const attrs = pickleAttributes(ckpt.root as object) as Map<string, Map<string, Map<string, number>>>;
  assert.is(attrs.get('_metadata')!.get('')!.get('version'), 1);
});

// ------------------------------------------------------------------ zip variants

const SIMPLE: SynthCheckpoint = {
  storages: [
    { key: '0', dtype: 'float32', bytes: f32(...range(12)) },
    { key: '1', dtype: 'int64', bytes: bytesOf(BigInt64Array.from([7n, -7n])) },
  ],
  tensors: [
    { name: 'a.weight', storage: '0', shape: [3, 4] },
    { name: 'a.t', storage: '0', shape: [4, 3], stride: [1, 4] },
    { name: 'b', storage: '1', shape: [2] },
  ],
};

async function checkSimple(bytes: Uint8Array): Promise<void> {
  const sd = await loadStateDict(bytes);
  assert.equal([...sd.keys()], ['a.weight', 'a.t', 'b']);
  assert.equal(values(sd.get('a.weight')!), range(12));
  assert.equal(values(sd.get('a.t')!), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  assert.equal(values(sd.get('b')!), [7n, -7n]);
}

test('zip: any top-level folder name, deflated entries, ZIP64 records; pickle protocols 1..5, STACK_GLOBAL', async () => {
  for (const folder of ['archive', 'model', 'sam_vit_h_4b8939', 'weird name.v2']) await checkSimple(torchZip(SIMPLE, { folder }));
  await checkSimple(torchZip(SIMPLE, { deflate: true }));
  await checkSimple(torchZip(SIMPLE, { deflate: (n) => n.endsWith('data.pkl') }));
  await checkSimple(torchZip(SIMPLE, { zip64: true }));
  await checkSimple(torchZip(SIMPLE, { zip64: true, deflate: true, align: 0 }));
  await checkSimple(torchZip(SIMPLE, { protocol: 4, stackGlobal: true }));
  await checkSimple(torchZip(SIMPLE, { protocol: 5, stackGlobal: true, zip64: true }));
  await checkSimple(torchLegacy(SIMPLE, { protocol: 4, stackGlobal: true }));
  await checkSimple(torchLegacy(SIMPLE, { protocol: 1 }));
  await checkSimple(torchZip(SIMPLE, { protocol: 1 }));
  await checkSimple(torchZip(SIMPLE, { byteorder: 'little' }));
});

test('zip: byteorder "big" storages are byte-swapped', async () => {
  const swap = (b: Uint8Array, n: number): Uint8Array => {
    const out = b.slice();
    for (let i = 0; i < out.length; i += n) out.subarray(i, i + n).reverse();
    return out;
  };
  const big: SynthCheckpoint = {
    ...SIMPLE,
    storages: SIMPLE.storages.map((s) => ({ ...s, bytes: swap(s.bytes, s.dtype === 'int64' ? 8 : 4) })),
  };
  await checkSimple(torchZip(big, { byteorder: 'big' }));
  await checkSimple(torchLegacy(big, { littleEndian: false }));
});

test('zip: lazy entries expose metadata before any load, and load independently', async () => {
  const ckpt = await openCheckpoint(torchZip(SIMPLE));
  assert.equal(
    ckpt.entries.map((e) => [e.key, e.dtype, [...e.shape], e.numel, e.byteLength]),
    [
      ['a.weight', 'float32', [3, 4], 12, 48],
      ['a.t', 'float32', [4, 3], 12, 48],
      ['b', 'int64', [2], 2, 16],
    ],
  );
  assert.equal(values(await ckpt.get('b')!.load()), [7n, -7n]);
  await ckpt.close();
});

test('legacy: storage views (view_metadata) and storages shared between tensors', async () => {
  const ck: SynthCheckpoint = {
    storages: [{ key: '140', dtype: 'float32', bytes: f32(...range(10)) }],
    tensors: [
      { name: 'full', storage: '140', shape: [10] },
      // a storage view starting at element 4 of length 6, tensor offset 1 within it
      { name: 'view', storage: '140', shape: [2, 2], stride: [2, 1], offset: 1, legacyView: { key: '141', offset: 4, numel: 6 } },
    ],
  };
  const sd = await loadStateDict(torchLegacy(ck));
  assert.equal(values(sd.get('full')!), range(10));
  assert.equal(values(sd.get('view')!), [5, 6, 7, 8]);
});

// ------------------------------------------------------------------ the unpickler

test('unpickle: plain data opcodes', () => {
  const pkl = writePickle(
    new Map<never, never>([
      ['int', 1] as never,
      ['neg', -70000] as never,
      ['big', 2n ** 70n] as never,
      ['negbig', -(2n ** 64n)] as never,
      ['f', float(-1.5)] as never,
      ['s', 'héllo ✓'] as never,
      ['b', Uint8Array.from([1, 2, 3])] as never,
      ['l', [1, [2, 3], tuple()]] as never,
      ['t', tuple(1, 2, 3, 4)] as never,
      ['n', null] as never,
      ['yes', true] as never,
    ]),
    { protocol: 4 },
  );
  const { value, end } = unpickle(pkl, { resolveGlobal: resolveTorchGlobal });
  assert.is(end, pkl.length);
  const m = value as Map<string, unknown>;
  assert.is(m.get('int'), 1);
  assert.is(m.get('neg'), -70000);
  assert.is(m.get('big'), 2n ** 70n);
  assert.is(m.get('negbig'), -(2n ** 64n));
  assert.is(m.get('f'), -1.5);
  assert.is(m.get('s'), 'héllo ✓');
  assert.equal(m.get('b'), Uint8Array.from([1, 2, 3]));
  assert.equal(m.get('l'), [1, [2, 3], []]);
  assert.equal(m.get('t'), [1, 2, 3, 4]);
  assert.is(m.get('n'), null);
  assert.is(m.get('yes'), true);
});

test('newer torch pickles: UntypedStorage / dtype-object storage types, _rebuild_tensor_v3, _rebuild_parameter_with_state, torch.Size', async () => {
  const od = reduce(glob('collections', 'OrderedDict'), []);
  const v2 = (type: PyValue, key: string, numel: number, shape: number[]): PyValue =>
    reduce(glob('torch._utils', '_rebuild_tensor_v2'), [
      persid(tuple('storage', type, key, 'cpu', numel)),
      0,
      tuple(...shape),
      tuple(...contiguousStride(shape)),
      false,
      od,
      null,
    ]);
  const sdValue = new Map<PyValue, PyValue>([
    // untyped (byte) storage reinterpreted as float32 by _rebuild_tensor_v3
    [
      'v3',
      reduce(glob('torch._utils', '_rebuild_tensor_v3'), [
        persid(tuple('storage', glob('torch', 'UntypedStorage'), 'u', 'cpu', 8)),
        1,
        tuple(1),
        tuple(1),
        false,
        od,
        glob('torch', 'float32'),
      ]),
    ],
    // a dtype object in place of the storage class
    ['by_dtype', v2(glob('torch', 'half'), 'h', 2, [2])],
    ['cuda_type', v2(glob('torch.cuda', 'FloatStorage'), 'c', 1, [])],
    [
      'param',
      reduce(glob('torch._utils', '_rebuild_parameter_with_state'), [
        v2(glob('torch', 'FloatStorage'), 'c', 1, [1]),
        true,
        od,
        new Map<PyValue, PyValue>([['tag', 'x']]),
      ]),
    ],
  ]);
  const root = new Map<PyValue, PyValue>([
    ['state_dict', sdValue],
    ['shape', reduce(glob('torch', 'Size'), [tuple(2, 3)])],
  ]);
  const zip = writeZip([
    { name: 'archive/data.pkl', data: writePickle(root, { protocol: 4, stackGlobal: true }) },
    { name: 'archive/data/u', data: bytesOf(Float32Array.from([1.5, -2.5])) },
    { name: 'archive/data/h', data: bytesOf(Uint16Array.from([0x3c00, 0xc000])) },
    { name: 'archive/data/c', data: bytesOf(Float32Array.from([42])) },
  ]);
  const ckpt = await openCheckpoint(zip);
  assert.equal((ckpt.root as Map<string, unknown>).get('shape'), [2, 3]);
  assert.equal(
    ckpt.entries.map((e) => [e.key, e.dtype, [...e.shape]]),
    [
      ['v3', 'float32', [1]],
      ['by_dtype', 'float16', [2]],
      ['cuda_type', 'float32', []],
      ['param', 'float32', [1]],
    ],
  );
  assert.equal(Array.from(toFloat32(await ckpt.get('v3')!.load())), [-2.5]);
  assert.equal(Array.from(toFloat32(await ckpt.get('by_dtype')!.load())), [1, -2]);
  assert.equal(Array.from(toFloat32(await ckpt.get('cuda_type')!.load())), [42]);
  assert.equal(Array.from(toFloat32(await ckpt.get('param')!.load())), [42]);
});

test('special tensor rebuilders are refused with a hint', async () => {
  const pkl = writePickle(reduce(glob('torch._utils', '_rebuild_sparse_tensor'), [0]));
  await rejectsWith(
    () => loadStateDict(writeZip([{ name: 'x/data.pkl', data: pkl }])),
    /refusing to load global 'torch\._utils\._rebuild_sparse_tensor'/,
    /dense tensor/,
  );
});

test('unpickle: allowed torch globals resolve to data, REDUCE on a non-callable is refused', () => {
  const dtype = unpickle(writePickle(glob('torch', 'float16')), { resolveGlobal: resolveTorchGlobal }).value as { dtype: string };
  assert.is(dtype.dtype, 'float16');
  const pkl = writePickle(reduce(glob('torch', 'FloatStorage'), [10]));
  assert.throws(() => unpickle(pkl, { resolveGlobal: resolveTorchGlobal }), /torch\.FloatStorage is not callable/);
});

test.run();
