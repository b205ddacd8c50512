// One model, run with onnxruntime-web, preprocessed as segblur.runtime.segmenter.make_blob says and read as
// segblur.runtime.segmenter.predict_lowres does: the summed probability of the kept classes at the network's size.
import * as ort from './vendor/onnxruntime-web/ort.min.mjs';
import { downscale, image, keptSize } from './image.js';

// A WebAssembly module using one SIMD instruction (i32x4.splat): valid only where SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8,
  0, 65, 0, 253, 15, 253, 98, 11]);

// WebAssembly settings, once, before the first model: threads need a cross-origin isolated page (COOP/COEP).
// By default half the cores (at most 4), as onnxruntime-web itself picks: the other half composites. Measured on 2
// cores at 720p (benchmarks/web_speed.py, loaded machine): 1 thread drew 2.1-3.8 fps, 2 threads 1.6-1.7 fps with
// person-fast-int8; quiet, both drew the same (5.4 fps person-lite, 6.4-6.5 person-fast).
export function configureWasm(requestedThreads) {
  const isolated = self.crossOriginIsolated === true;
  const cores = navigator.hardwareConcurrency || 1;
  const wanted = requestedThreads || Math.min(4, Math.ceil(cores / 2));
  const threads = isolated ? Math.max(1, Math.min(wanted, cores, 8)) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = new URL('./vendor/onnxruntime-web/', import.meta.url).href;
  ort.env.logLevel = 'error';
  return { isolated, threads, simd: WebAssembly.validate(SIMD_PROBE), version: ort.env.versions?.web || '' };
}

// Execution providers to try, best first: WebGPU on a real (not software) adapter, then WebAssembly.
async function backendsFor(preference) {
  if (preference !== 'auto') return [preference];
  try {
    const adapter = navigator.gpu && (await navigator.gpu.requestAdapter());
    if (adapter && !adapter.isFallbackAdapter) return ['webgpu', 'wasm'];
  } catch { /* no WebGPU */ }
  return ['wasm'];
}

function reason(e) {
  const text = String((e && e.message) || e || 'unknown error').split('\n')[0];
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export class Segmenter {
  // Fetch `entry` (one model of api/config) and open it on the best backend that runs it; throws an Error whose
  // message is one line naming the model.
  static async load(entry, preference = 'auto') {
    let bytes;
    try {
      const resp = await fetch(entry.url);
      if (!resp.ok) throw new Error(`HTTP ${resp.status} ${resp.statusText}`);
      bytes = new Uint8Array(await resp.arrayBuffer());
    } catch (e) {
      throw new Error(`model ${entry.name} could not be downloaded (${reason(e)})`);
    }
    const errors = [];
    for (const backend of await backendsFor(preference)) {
      let session = null;
      try {
        session = await ort.InferenceSession.create(bytes, { executionProviders: [backend],
          graphOptimizationLevel: 'all' });
        const seg = new Segmenter(entry, session, backend);
        await seg.check();
        return seg;
      } catch (e) {
        errors.push(`${backend}: ${reason(e)}`);
        if (session) await session.release().catch(() => {});
      }
    }
    throw new Error(`model ${entry.name} could not be loaded (${errors.join('; ')})`);
  }

  constructor(entry, session, backend) {
    const meta = entry.metadata;
    this.name = entry.name;
    this.meta = meta;
    this.session = session;
    this.backend = backend;
    [this.h, this.w] = meta.input.size;
    if (session.inputNames.length !== 1) throw new Error(`the graph has ${session.inputNames.length} inputs, not 1`);
    this.inputName = session.inputNames[0];
    this.outputName = session.outputNames[0];
    const names = [['input', meta.input.name, this.inputName], ['output', meta.output.name, this.outputName]];
    for (const [what, declared, actual] of names) {
      if (declared && declared !== actual) {
        throw new Error(`metadata names ${what} ${declared} but the graph's is ${actual}`);
      }
    }
    this.keep = meta.foreground.map((c) => meta.classes.indexOf(c));
  }

  // ModelInfo.input_size_for: [h, w] of the input for a frame, the metadata's size or, for resize "keep", the
  // frame's aspect at as many pixels.
  inputSize(frameH, frameW) {
    return this.meta.input.resize === 'keep' ? keptSize(frameH, frameW, this.h, this.w) : [this.h, this.w];
  }

  // Like OnnxModel._check_graph: a zero input runs and gives one channel per class.
  async check() {
    const out = await this.run(new Float32Array(3 * this.h * this.w), this.h, this.w);
    const n = this.meta.classes.length;
    if (out.dims.length !== 4 || out.dims[1] !== n) {
      throw new Error(`output shape [${out.dims}] does not match ${n} classes`);
    }
  }

  async run(blob, h, w) {
    const feeds = { [this.inputName]: new ort.Tensor('float32', blob, [1, 3, h, w]) };
    const result = await this.session.run(feeds);
    return result[this.outputName];
  }

  // make_blob: stretch to the input size (box-filtered halving), channel order, (x - mean) / std, NCHW.
  blob(frame) {
    const [h, w] = this.inputSize(frame.h, frame.w);
    const small = downscale(frame, w, h), n = w * h, blob = new Float32Array(3 * n), c = small.c;
    const { mean, std, color } = this.meta.input;
    for (let k = 0; k < 3; k++) {
      const src = color === 'BGR' ? 2 - k : k, m = mean[k], inv = 1 / std[k];
      for (let i = 0; i < n; i++) blob[k * n + i] = (small.data[c * i + src] - m) * inv;
    }
    return { blob, h, w };
  }

  // {prob: h x w float image of the kept classes' summed probability in [0, 1], ms: inference milliseconds}.
  async foreground(frame) {
    const { blob, h: bh, w: bw } = this.blob(frame);
    const t0 = performance.now();
    const out = await this.run(blob, bh, bw);
    const ms = performance.now() - t0;
    const [, c, h, w] = out.dims, n = h * w, data = out.data;
    if (this.meta.output.kind === 'logits') softmax(data, c, n);
    const prob = image(w, h, 1);
    for (const k of this.keep) for (let i = 0; i < n; i++) prob.data[i] += data[k * n + i];
    for (let i = 0; i < n; i++) prob.data[i] = Math.min(1, Math.max(0, prob.data[i]));
    if (out.dispose) out.dispose();
    return { prob, ms };
  }

  release() {
    return this.session.release();
  }
}

function softmax(data, c, n) {
  for (let i = 0; i < n; i++) {
    let max = -Infinity, sum = 0;
    for (let k = 0; k < c; k++) max = Math.max(max, data[k * n + i]);
    for (let k = 0; k < c; k++) { data[k * n + i] = Math.exp(data[k * n + i] - max); sum += data[k * n + i]; }
    for (let k = 0; k < c; k++) data[k * n + i] /= sum;
  }
}
