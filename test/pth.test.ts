/**
 * PyTorch checkpoint reader against the real fixtures (zip and legacy model.pth of every case),
 * plus refusal of malicious pickles and clear errors for files that are not (whole) checkpoints.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BytesSource } from '../converter/byte_source.js';
import { FileSource } from '../converter/file_source.js';
import { UnsafePickleError, loadStateDict, openCheckpoint, type StateDict } from '../converter/index.js';
import { fixtureCases, fixturePath, readJson } from './helpers/fixtures.js';
import { CountingSource, rejectsWith } from './helpers/pth_sources.js';
import { glob, reduce, torchLegacy, torchZip, tuple, writePickle, writeZip } from './helpers/pth_writer.js';

interface Manifest {
  num_tensors: number;
  tensors: { key: string; shape: number[]; dtype: string; numel: number }[];
}

const CASES = fixtureCases();
const loaded = new Map<string, StateDict>();

async function load(caseName: string, file: string): Promise<StateDict> {
  const id = `${caseName}/${file}`;
  if (!loaded.has(id)) loaded.set(id, await loadStateDict(fixturePath(caseName, file)));
  return loaded.get(id)!;
}

function rawBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

test('fixture cases are discovered', () => {
  assert.ok(CASES.length >= 1, 'no fixture case folders found');
});

for (const c of CASES) {
  for (const file of ['model.pth', 'model.legacy.pth']) {
    test(`${c}/${file}: keys, shapes and dtypes match the manifest, in order`, async () => {
      const manifest = readJson<Manifest>(c, 'state_dict_manifest.json');
      const sd = await load(c, file);
      assert.equal([...sd.keys()], manifest.tensors.map((t) => t.key));
      assert.is(sd.size, manifest.num_tensors);
      for (const m of manifest.tensors) {
        const t = sd.get(m.key)!;
        assert.equal(t.shape, m.shape, m.key);
        assert.is(t.dtype, m.dtype, m.key);
        assert.is(t.data.length, m.numel, m.key);
        assert.instance(t.data, Float32Array);
      }
      // sanity: seeded random weights, not zeros / garbage
      const w = sd.get('image_encoder.patch_embed.proj.weight')!.data as Float32Array;
      let sumSq = 0;
      for (const x of w) {
        assert.ok(Number.isFinite(x));
        sumSq += x * x;
      }
      const fanIn = w.length / sd.get('image_encoder.patch_embed.proj.weight')!.shape[0];
      const variance = sumSq / w.length;
      assert.ok(Math.abs(variance * fanIn - 1) < 0.1, `weight variance ${variance} is not ~1/fan_in`);
    });
  }

  test(`${c}: zip and legacy checkpoints hold bit-identical tensors`, async () => {
    const zip = await load(c, 'model.pth');
    const legacy = await load(c, 'model.legacy.pth');
    assert.equal([...legacy.keys()], [...zip.keys()]);
    for (const [key, t] of zip) {
      const u = legacy.get(key)!;
      assert.equal(u.shape, t.shape, key);
      assert.ok(Buffer.compare(rawBytes(t.data), rawBytes(u.data)) === 0, `${key} differs`);
    }
  });

  for (const file of ['model.pth', 'model.legacy.pth']) {
    test(`${c}/${file}: the lazy API reads only what is asked for`, async () => {
      const path = fixturePath(c, file);
      const source = new CountingSource(await FileSource.open(path));
      try {
        const ckpt = await openCheckpoint(source);
        const manifest = readJson<Manifest>(c, 'state_dict_manifest.json');
        assert.equal(ckpt.entries.map((e) => e.key), manifest.tensors.map((t) => t.key));
        assert.equal(ckpt.entries.map((e) => [...e.shape]), manifest.tensors.map((t) => t.shape));
        assert.is(ckpt.format, file === 'model.pth' ? 'zip' : 'legacy');
        const indexBytes = source.bytesRead;
        const totalTensorBytes = ckpt.entries.reduce((n, e) => n + e.byteLength, 0);
        assert.ok(indexBytes < source.size - totalTensorBytes / 2, `opening read ${indexBytes} of ${source.size} bytes`);

        // pick the largest tensor in the middle of the file and a small one
        const mid = ckpt.entries[Math.floor(ckpt.entries.length / 2)];
        for (const entry of [mid, ckpt.entries[ckpt.entries.length - 1]]) {
          source.reset();
          const t = await entry.load();
          const dataReads = source.reads.filter((r) => r.length === entry.byteLength);
          assert.is(dataReads.length, 1, `${entry.key}: ${JSON.stringify(source.reads)}`);
          // besides the data, at most a 30-byte zip local header
          assert.ok(source.bytesRead <= entry.byteLength + 30, `${entry.key}: read ${source.bytesRead} bytes`);
          const full = await load(c, file);
          assert.ok(Buffer.compare(rawBytes(t.data), rawBytes(full.get(entry.key)!.data)) === 0);
        }
        assert.is(ckpt.get(mid.key), mid);
        assert.is(ckpt.get('no.such.key'), undefined);
        await ckpt.close();
      } finally {
        await source.close();
      }
    });
  }
}

test('openCheckpoint(path) opens and closes the file itself; in-memory bytes work too', async () => {
  const c = CASES[0];
  const ckpt = await openCheckpoint(fixturePath(c, 'model.pth'));
  const first = await ckpt.entries[0].load();
  await ckpt.close();
  await rejectsWith(() => ckpt.entries[0].load(), /closed/);
  const fromBytes = await loadStateDict(readFileSync(fixturePath(c, 'model.legacy.pth')));
  assert.equal(fromBytes.get(ckpt.entries[0].key)!.data, first.data);
});

// ------------------------------------------------------------------------- malicious pickles

const enc = (s: string): number[] => [...Buffer.from(s, 'latin1')];

/** protocol 2: GLOBAL 'os\nsystem\n', BINUNICODE 'echo pwned', TUPLE1, REDUCE, STOP */
function evilGlobalPickle(module = 'os', name = 'system'): Uint8Array {
  const arg = 'echo pwned';
  return Uint8Array.from([
    0x80, 0x02,
    0x63, ...enc(`${module}\n${name}\n`),
    0x58, arg.length, 0, 0, 0, ...enc(arg),
    0x85,
    0x52,
    0x2e,
  ]);
}

/** protocol 4: FRAME, SHORT_BINUNICODE 'os', SHORT_BINUNICODE 'system', STACK_GLOBAL, arg, TUPLE1, REDUCE, STOP */
function evilStackGlobalPickle(module = 'os', name = 'system'): Uint8Array {
  const arg = 'echo pwned';
  const body = [
    0x8c, module.length, ...enc(module), 0x94,
    0x8c, name.length, ...enc(name), 0x94,
    0x93, 0x94,
    0x8c, arg.length, ...enc(arg), 0x94,
    0x85, 0x94,
    0x52, 0x94,
    0x2e,
  ];
  return Uint8Array.from([0x80, 0x04, 0x95, body.length, 0, 0, 0, 0, 0, 0, 0, ...body]);
}

const REFUSED = /refusing to load global 'os\.system'.*Nothing was executed/s;

test('a raw pickle calling os.system (GLOBAL) is refused, naming the global', async () => {
  const msg = await rejectsWith(() => loadStateDict(evilGlobalPickle()), REFUSED);
  assert.match(msg, /only contain tensors/);
  await rejectsWith(() => loadStateDict(evilGlobalPickle()), REFUSED).then(() => undefined);
  // The error is an UnsafePickleError
  try {
    await loadStateDict(evilGlobalPickle());
  } catch (e) {
    assert.instance(e, UnsafePickleError);
  }
});

test('a STACK_GLOBAL (protocol 4) os.system pickle is refused', async () => {
  await rejectsWith(() => loadStateDict(evilStackGlobalPickle()), REFUSED);
});

test('other dangerous globals are refused by name', async () => {
  for (const [m, n] of [
    ['builtins', 'eval'],
    ['builtins', 'exec'],
    ['posix', 'system'],
    ['nt', 'system'],
    ['subprocess', 'Popen'],
    ['builtins', 'getattr'],
    ['torch', 'load'],
    ['torch.serialization', 'load'],
    ['torch._utils', 'exec'],
    ['collections', 'namedtuple'],
  ]) {
    const re = new RegExp(`refusing to load global '${m}\\.${n}'`);
    await rejectsWith(() => loadStateDict(evilGlobalPickle(m, n)), re);
    await rejectsWith(() => loadStateDict(evilStackGlobalPickle(m, n)), re);
  }
});

test('the refusal happens when the global is read, before any call (garbage after it is never reached)', async () => {
  const bytes = Uint8Array.from([0x80, 0x02, 0x63, ...enc('os\nsystem\n'), 0xff, 0xfe]);
  await rejectsWith(() => loadStateDict(bytes), REFUSED);
});

test('os.system inside a zip checkpoint (as torch writes it) is refused', async () => {
  for (const pickle of [evilGlobalPickle(), evilStackGlobalPickle()]) {
    const zip = writeZip(
      [
        { name: 'model/data.pkl', data: pickle },
        { name: 'model/version', data: new TextEncoder().encode('3\n') },
      ],
      { align: 64 },
    );
    await rejectsWith(() => loadStateDict(zip), REFUSED);
  }
});

test('os.system in the state dict of a legacy checkpoint, or as a storage type, is refused', async () => {
  const legacy = torchLegacy({
    storages: [{ key: '0', dtype: 'float32', bytes: new Uint8Array(8) }],
    tensors: [{ name: 'w', storage: '0', shape: [2] }],
    wrap: (sd) => new Map([['model', sd], ['hook', reduce(glob('os', 'system'), ['echo pwned'])]]),
  });
  await rejectsWith(() => loadStateDict(legacy), REFUSED);
  // a storage type that is not a storage class
  const pkl = writePickle(
    reduce(glob('torch._utils', '_rebuild_tensor_v2'), [
      { $persid: tuple('storage', glob('os', 'system'), '0', 'cpu', 2) },
      0,
      tuple(2),
      tuple(1),
      false,
      null,
    ]),
  );
  const zip = writeZip([
    { name: 'a/data.pkl', data: pkl },
    { name: 'a/data/0', data: new Uint8Array(8) },
  ]);
  await rejectsWith(() => loadStateDict(zip), REFUSED);
});

test('INST, OBJ, extension opcodes and foreign persistent ids are refused', async () => {
  // INST: MARK, 'i' module \n name \n
  await rejectsWith(
    () => loadStateDict(Uint8Array.from([0x80, 0x02, 0x28, 0x58, 2, 0, 0, 0, ...enc('ls'), 0x69, ...enc('os\nsystem\n'), 0x2e])),
    /refusing to load global 'os\.system' \(pickle INST/,
  );
  // OBJ with an allowed class still refused
  await rejectsWith(
    () => loadStateDict(Uint8Array.from([0x80, 0x02, 0x28, 0x63, ...enc('collections\nOrderedDict\n'), 0x6f, 0x2e])),
    /refusing pickle OBJ/,
  );
  await rejectsWith(() => loadStateDict(Uint8Array.from([0x80, 0x02, 0x82, 0x01, 0x2e])), /extension-registry/);
  // a whole-module persistent id, as torch.save(model) writes
  const zip = writeZip([{ name: 'a/data.pkl', data: writePickle({ $persid: tuple('module', 'x', 'y', 'z') }) }]);
  await rejectsWith(() => loadStateDict(zip), /refusing persistent id 'module'.*state_dict/);
});

test('hints for TorchScript archives and pickled modules', async () => {
  const ts = writeZip([{ name: 'archive/data.pkl', data: evilGlobalPickle('__torch__.sam', 'Sam') }]);
  await rejectsWith(() => loadStateDict(ts), /'__torch__\.sam\.Sam'/, /TorchScript/);
  const mod = writeZip([{ name: 'archive/data.pkl', data: evilGlobalPickle('torch.nn.modules.linear', 'Linear') }]);
  await rejectsWith(() => loadStateDict(mod), /'torch\.nn\.modules\.linear\.Linear'/, /state_dict\(\)/);
});

// ------------------------------------------------------------------------- not checkpoints

const EXPECTED = /expected a \.pth file written by torch\.save/;

test('files that are not checkpoints give clear errors', async () => {
  const c = CASES[0];
  await rejectsWith(() => loadStateDict(fixturePath(c, 'image.png')), /not a PyTorch checkpoint/, /PNG image/, EXPECTED);
  await rejectsWith(() => loadStateDict(fixturePath(c, 'config.json')), /not a PyTorch checkpoint/, /text file/, EXPECTED);
  await rejectsWith(() => loadStateDict(fixturePath(c, 'image_embedding.npy')), /NumPy/, EXPECTED);
  await rejectsWith(() => loadStateDict(new Uint8Array(0)), /not a PyTorch checkpoint.*the file is empty/, EXPECTED);
  await rejectsWith(() => loadStateDict(Uint8Array.from([0x80])), /not a PyTorch checkpoint/);
  await rejectsWith(() => loadStateDict(new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:abc\n')), /Git LFS/);
  await rejectsWith(() => loadStateDict(new TextEncoder().encode('<!DOCTYPE html><html>404</html>')), /HTML/);
  await rejectsWith(() => loadStateDict(Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0])), /gzip/);
  await rejectsWith(() => loadStateDict(Uint8Array.from([0, 1, 2, 3, 250, 251, 252, 0, 7])), /starts with bytes 00 01 02 03/);
  await rejectsWith(() => loadStateDict('/nonexistent/dir/model.pth'), /cannot open checkpoint \/nonexistent/);
  await rejectsWith(() => loadStateDict(fixturePath(c)), /not a regular file/);
  // a plain pickle (no torch magic number)
  await rejectsWith(() => loadStateDict(writePickle(new Map([['a', 1]]))), /Python pickle but not one written by torch\.save/, EXPECTED);
});

test('a zip without data.pkl, or missing a storage, is reported', async () => {
  const zip = writeZip([{ name: 'stuff/readme.txt', data: new TextEncoder().encode('hi') }]);
  await rejectsWith(() => loadStateDict(zip), /zip archive without a <folder>\/data\.pkl/, /'stuff\/readme\.txt'/, EXPECTED);
  await rejectsWith(() => loadStateDict(writeZip([])), /without a <folder>\/data\.pkl/);
  const ck = { storages: [{ key: '0', dtype: 'float32' as const, bytes: new Uint8Array(8) }], tensors: [{ name: 'w', storage: '0', shape: [2] }] };
  const good = torchZip(ck, { folder: 'm' });
  assert.is((await loadStateDict(good)).size, 1);
  const pkl = writeZip([{ name: 'm/data.pkl', data: readZipPkl(good) }]);
  await rejectsWith(() => loadStateDict(pkl), /storage 'm\/data\/0' is missing from the zip/);
});

/** data.pkl of a zip made by torchZip (first entry, stored, 64-byte aligned). */
function readZipPkl(zip: Uint8Array): Uint8Array {
  const dv = new DataView(zip.buffer, zip.byteOffset);
  const size = dv.getUint32(18, true);
  const start = 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
  return zip.slice(start, start + size);
}

test('truncated zip checkpoints give clear errors at every cut point', async () => {
  const c = CASES[0];
  const bytes = readFileSync(fixturePath(c, 'model.pth'));
  const cuts = new Set([4, 22, 30, 100, 1000, 36000, bytes.length >> 1, bytes.length - 1000, bytes.length - 22, bytes.length - 1]);
  for (let i = 997; i < bytes.length; i += 7919) cuts.add(i);
  for (const cut of cuts) {
    await rejectsWith(() => loadStateDict(new BytesSource(bytes.subarray(0, cut), `model.pth cut at ${cut}`)), /truncated/, /download or save it again/);
  }
});

test('truncated legacy checkpoints give clear errors at every cut point', async () => {
  const c = CASES[0];
  const bytes = readFileSync(fixturePath(c, 'model.legacy.pth'));
  const cuts = new Set([2, 3, 10, 14, 15, 16, 20, 21, 30, 136, 137, 138, 5000, bytes.length >> 1, bytes.length - 4, bytes.length - 1]);
  for (let i = 101; i < 50_000; i += 397) cuts.add(i);
  for (let i = 50_000; i < bytes.length; i += 7919) cuts.add(i);
  for (const cut of cuts) {
    await rejectsWith(
      () => loadStateDict(new BytesSource(bytes.subarray(0, cut), `model.legacy.pth cut at ${cut}`)),
      /truncated legacy checkpoint/,
      /download or save it again/,
    );
  }
});

test('damaged checkpoints never fail with an obscure RangeError / TypeError', async () => {
  const c = CASES[0];
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (const file of ['model.legacy.pth', 'model.pth']) {
    const original = readFileSync(fixturePath(c, file));
    // damage the index (pickle / zip directory), where every byte matters
    const ranges = file === 'model.pth' ? [original.length - 40_000, original.length] : [0, 41_000];
    for (let k = 0; k < 300; k++) {
      const bytes = Buffer.from(original);
      for (let j = 0; j < 1 + rand(3); j++) bytes[ranges[0] + rand(ranges[1] - ranges[0])] = rand(256);
      try {
        const ckpt = await openCheckpoint(bytes);
        for (const e of ckpt.entries.slice(0, 5)) await e.load();
      } catch (e) {
        if (!(e instanceof Error) || !['CheckpointError', 'UnsafePickleError', 'PickleTruncatedError'].includes(e.name)) {
          throw new Error(`${file} damage #${k}: ${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack}`);
        }
      }
    }
  }
});

test.run();
