/**
 * The safetensors reader, and Hugging Face transformers SAM weights: a safetensors file made
 * here from each fixture's state dict with the keys renamed to transformers' names must give
 * the same tensors, the same model (weights and outputs) and the same converted files as the .pth.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { convertCheckpoint } from '../converter/convert.js';
import { mapTransformersKeys, samKeyFromTransformers, usesTransformersNames } from '../converter/hf_keys.js';
import { BytesSource, CheckpointError, loadStateDict, type StateDict } from '../converter/index.js';
import { loadSamStateDict, openSamStateDict } from '../converter/sam_state_dict.js';
import { loadSafetensors, openSafetensors } from '../converter/safetensors.js';
import { float16BitsToNumber } from '../converter/torch_types.js';
import { presetConfig } from '../src/sam/config.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import { SamModel } from '../src/sam/sam_model.js';
import { useBackend } from './helpers/backends.js';
import { assertSameWeights, fixtureConfig, loadConverted, makeTempDir, rejects, removeDir, stateDictToSynth } from './helpers/convert_env.js';
import { fixtureCases, fixturePath } from './helpers/fixtures.js';
import { CountingSource } from './helpers/pth_sources.js';
import { torchZip } from './helpers/pth_writer.js';
import { tensorToSafetensors, toTransformersTensors, transformersKey, writeSafetensors, type SafetensorsTensor } from './helpers/safetensors_writer.js';

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const reader = suite('safetensors reader');
reader.before(() => useBackend('cpu'));

reader('every dtype, any header order, metadata; each load reads only its own bytes', async () => {
  const f16 = Uint16Array.from([0x3c00, 0xc000, 0x3555]);
  const bf16 = Uint16Array.from([0x3f80, 0xc040]);
  const tensors: SafetensorsTensor[] = [
    { name: 'f32', dtype: 'F32', shape: [2, 2], data: bytes(Float32Array.from([1, -2, 3.5, 1e-30])) },
    { name: 'f16', dtype: 'F16', shape: [3], data: bytes(f16) },
    { name: 'bf16', dtype: 'BF16', shape: [2], data: bytes(bf16) },
    { name: 'f64', dtype: 'F64', shape: [1], data: bytes(Float64Array.from([Math.PI])) },
    { name: 'i64', dtype: 'I64', shape: [2], data: bytes(BigInt64Array.from([-5n, 1n << 40n])) },
    { name: 'i32', dtype: 'I32', shape: [], data: bytes(Int32Array.from([-7])) },
    { name: 'i16', dtype: 'I16', shape: [1], data: bytes(Int16Array.from([-300])) },
    { name: 'i8', dtype: 'I8', shape: [2], data: bytes(Int8Array.from([-1, 5])) },
    { name: 'u8', dtype: 'U8', shape: [1, 3], data: Uint8Array.from([0, 128, 255]) },
    { name: 'bool', dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) },
    { name: 'empty', dtype: 'F32', shape: [0, 3], data: new Uint8Array(0) },
  ];
  // header keys in an order different from the data order
  const file = writeSafetensors([...tensors].reverse(), { format: 'pt', note: 'test' });
  const source = new CountingSource(new BytesSource(file, 'test.safetensors'));
  const st = await openSafetensors(source);
  assert.equal(st.metadata, { format: 'pt', note: 'test' });
  assert.equal(st.entries.map((e) => e.key), tensors.map((t) => t.name).reverse());
  const headerReads = source.bytesRead;
  source.reset();
  const t = await st.get('f32')!.load();
  assert.equal({ dtype: t.dtype, shape: t.shape, data: [...(t.data as Float32Array)] }, { dtype: 'float32', shape: [2, 2], data: [1, -2, 3.5, Math.fround(1e-30)] });
  assert.is(source.bytesRead, 16);
  assert.ok(headerReads < 2000);
  const all = await loadSafetensors(file);
  assert.equal([...(all.get('f16')!.data as Uint16Array)].map(float16BitsToNumber), [1, -2, float16BitsToNumber(0x3555)]);
  assert.is(all.get('bf16')!.dtype, 'bfloat16');
  assert.equal([...(all.get('i64')!.data as BigInt64Array)], [-5n, 1n << 40n]);
  assert.equal({ shape: all.get('i32')!.shape, v: [...(all.get('i32')!.data as Int32Array)] }, { shape: [], v: [-7] });
  assert.equal([...(all.get('i8')!.data as Int8Array)], [-1, 5]);
  assert.equal([...(all.get('u8')!.data as Uint8Array)], [0, 128, 255]);
  assert.equal({ dtype: all.get('bool')!.dtype, v: [...(all.get('bool')!.data as Uint8Array)] }, { dtype: 'bool', v: [1, 0] });
  assert.equal(all.get('empty')!.shape, [0, 3]);
  assert.is(all.get('f64')!.data[0], Math.PI);
});

reader('damaged files: truncated, bad header, bad offsets, unsupported dtype', async () => {
  const good = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [4], data: new Uint8Array(16) }]);
  await rejects(() => openSafetensors(good.subarray(0, good.length - 4)), /truncated safetensors file/, /tensor 'w'/);
  await rejects(() => openSafetensors(good.subarray(0, 20)), /truncated safetensors file/);
  await rejects(() => openSafetensors(good.subarray(0, 5)), /too small/);
  const header = (json: string) => {
    const h = new TextEncoder().encode(json);
    const out = new Uint8Array(8 + h.length + 16);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    return out;
  };
  await rejects(() => openSafetensors(header('{"w": {"dtype": "F32"')), /corrupt safetensors file/, /not valid UTF-8 JSON/);
  await rejects(() => openSafetensors(header('{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}')), /needs 16 bytes but data_offsets span 12/);
  await rejects(() => openSafetensors(header('{"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}')), /unsupported dtype/, /F8_E4M3/);
  await rejects(
    () => openSafetensors(header('{"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}, "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]}}')),
    /overlap/,
  );
  const e = await rejects(() => openSamStateDict(new TextEncoder().encode('{"not": "weights"}')), /not a PyTorch checkpoint/);
  assert.instance(e, CheckpointError);
});

reader('transformers names: the known mapping, both ways', () => {
  const cases: [string, string][] = [
    ['vision_encoder.patch_embed.projection.weight', 'image_encoder.patch_embed.proj.weight'],
    ['vision_encoder.pos_embed', 'image_encoder.pos_embed'],
    ['vision_encoder.layers.11.layer_norm1.bias', 'image_encoder.blocks.11.norm1.bias'],
    ['vision_encoder.layers.3.attn.rel_pos_h', 'image_encoder.blocks.3.attn.rel_pos_h'],
    ['vision_encoder.layers.0.mlp.lin2.weight', 'image_encoder.blocks.0.mlp.lin2.weight'],
    ['vision_encoder.neck.conv2.weight', 'image_encoder.neck.2.weight'],
    ['vision_encoder.neck.layer_norm2.bias', 'image_encoder.neck.3.bias'],
    ['prompt_encoder.shared_embedding.positional_embedding', 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix'],
    ['prompt_encoder.point_embed.3.weight', 'prompt_encoder.point_embeddings.3.weight'],
    ['prompt_encoder.mask_embed.conv3.bias', 'prompt_encoder.mask_downscaling.6.bias'],
    ['prompt_encoder.mask_embed.layer_norm2.weight', 'prompt_encoder.mask_downscaling.4.weight'],
    ['prompt_encoder.not_a_point_embed.weight', 'prompt_encoder.not_a_point_embed.weight'],
    ['mask_decoder.upscale_layer_norm.weight', 'mask_decoder.output_upscaling.1.weight'],
    ['mask_decoder.upscale_conv2.bias', 'mask_decoder.output_upscaling.3.bias'],
    ['mask_decoder.transformer.layers.1.layer_norm4.weight', 'mask_decoder.transformer.layers.1.norm4.weight'],
    ['mask_decoder.transformer.layers.0.cross_attn_image_to_token.v_proj.bias', 'mask_decoder.transformer.layers.0.cross_attn_image_to_token.v_proj.bias'],
    ['mask_decoder.transformer.layer_norm_final_attn.bias', 'mask_decoder.transformer.norm_final_attn.bias'],
    ['mask_decoder.iou_prediction_head.proj_in.weight', 'mask_decoder.iou_prediction_head.layers.0.weight'],
    ['mask_decoder.iou_prediction_head.layers.0.bias', 'mask_decoder.iou_prediction_head.layers.1.bias'],
    ['mask_decoder.output_hypernetworks_mlps.2.proj_out.weight', 'mask_decoder.output_hypernetworks_mlps.2.layers.2.weight'],
  ];
  for (const [hf, sam] of cases) assert.is(samKeyFromTransformers(hf), sam, hf);
  // every key of the vit_b preset survives the trip to transformers names and back
  const model = new SamModel(presetConfig('vit_b'));
  try {
    const keys = [...model.torchParams().keys()];
    const hf = keys.map((k) => transformersKey(k, () => 3));
    assert.ok(usesTransformersNames(hf));
    assert.not.ok(usesTransformersNames(keys));
    assert.equal(mapTransformersKeys(hf).map((m) => m.samKey), keys);
  } finally {
    model.dispose();
  }
  // shallower heads (a custom iou_head_depth of 2): proj_out is layers.1
  assert.equal(
    mapTransformersKeys(['mask_decoder.iou_prediction_head.proj_in.weight', 'mask_decoder.iou_prediction_head.proj_out.weight']).map((m) => m.samKey),
    ['mask_decoder.iou_prediction_head.layers.0.weight', 'mask_decoder.iou_prediction_head.layers.1.weight'],
  );
});

reader.run();

const sameTensors = (a: StateDict, b: StateDict) => {
  assert.equal([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.equal([t.dtype, t.shape], [u.dtype, u.shape], k);
    assert.ok(Buffer.from(bytes(t.data)).equals(Buffer.from(bytes(u.data))), `${k}: values differ`);
  }
};

for (const caseName of fixtureCases()) {
  const test = suite(`transformers safetensors ${caseName}`);
  const ctx: { tmp?: string; start?: number; sd?: StateDict; file?: string } = {};
  test.before(async () => {
    await useBackend('cpu');
    ctx.start = tf.memory().numTensors;
    ctx.tmp = makeTempDir('safetensors');
    ctx.sd = await loadStateDict(fixturePath(caseName, 'model.pth'));
    ctx.file = join(ctx.tmp, 'model.safetensors');
    writeFileSync(ctx.file, writeSafetensors(toTransformersTensors(ctx.sd), { format: 'pt' }));
  });
  test.after(() => {
    if (ctx.tmp) removeDir(ctx.tmp);
    assert.is(tf.memory().numTensors, ctx.start, 'tensors leaked');
  });

  test('read back by official name: the same tensors as the .pth (tied PE copy, fused point embeddings too)', async () => {
    const sd = await openSamStateDict(ctx.file!);
    assert.is(sd.format, 'safetensors');
    assert.is(sd.naming, 'transformers');
    assert.is(sd.sourceKey('image_encoder.patch_embed.proj.weight'), 'vision_encoder.patch_embed.projection.weight');
    await sd.close();
    sameTensors(await loadSamStateDict(ctx.file!), ctx.sd!);
    for (const options of [{ promptEncoderCopy: false }, { sharedCopy: false }, { fusedPointEmbed: true }]) {
      sameTensors(await loadSamStateDict(writeSafetensors(toTransformersTensors(ctx.sd!, options))), ctx.sd!);
    }
    // a .pth holding transformers names (pytorch_model.bin style) and a safetensors with official names
    const hfPth = new Map([...toTransformersTensors(ctx.sd!)].map((t) => [t.name, { dtype: 'float32' as const, shape: t.shape, data: new Float32Array(t.data.slice().buffer) }]));
    sameTensors(await loadSamStateDict(torchZip(stateDictToSynth(hfPth))), ctx.sd!);
    sameTensors(await loadSamStateDict(writeSafetensors([...ctx.sd!].map(([k, t]) => tensorToSafetensors(k, t)))), ctx.sd!);
  });

  test('the same model and outputs as the .pth', async () => {
    const config = fixtureConfig(caseName);
    const ref = await samFromCheckpoint(fixturePath(caseName, 'model.pth'), { config });
    const model = new SamModel(config);
    try {
      const sd = await loadSamStateDict(ctx.file!);
      model.loadStateDict(new Map([...sd].map(([k, t]) => [k, { shape: t.shape, values: t.data as Float32Array }])));
      assertSameWeights(ref, model);
      const g = config.promptEncoder.imageEmbeddingSize;
      const out = tf.tidy(() => {
        const emb = tf.randomNormal([1, g[0], g[1], config.promptEncoder.embedDim], 0, 1, 'float32', 7) as tf.Tensor4D;
        const inputs = { imageEmbeddings: emb, pointCoords: tf.tensor3d([[[40, 50]]]), pointLabels: tf.tensor2d([[1]]), multimaskOutput: true };
        return [ref.decode(inputs).lowResLogits, model.decode(inputs).lowResLogits];
      });
      assert.equal([...out[0].dataSync()], [...out[1].dataSync()]);
      tf.dispose(out);
    } finally {
      ref.dispose();
      model.dispose();
    }
  });

  test('convertCheckpoint takes it: byte-identical shards to the .pth conversion', async () => {
    const config = fixtureConfig(caseName);
    const fromPth = await convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config, outDir: join(ctx.tmp!, 'pth'), dtype: 'float16' });
    const fromHf = await convertCheckpoint({ input: ctx.file!, config, outDir: join(ctx.tmp!, 'hf'), dtype: 'float16' });
    assert.equal(fromHf.source, { format: 'safetensors', naming: 'transformers' });
    const a = JSON.parse(readFileSync(fromPth.modelJsonPath, 'utf8'));
    const b = JSON.parse(readFileSync(fromHf.modelJsonPath, 'utf8'));
    const byName = (m: any) => Object.fromEntries(m.weightsManifest[0].weights.map((w: any) => [w.name, w]));
    assert.equal(byName(b), byName(a));
    assert.equal(b.userDefinedMetadata.source, { file: 'model.safetensors', format: 'safetensors', naming: 'transformers' });
    const m1 = await loadConverted(fromPth.outDir);
    const m2 = await loadConverted(fromHf.outDir);
    try {
      assertSameWeights(m1, m2);
    } finally {
      m1.dispose();
      m2.dispose();
    }
  });

  test.run();
}
