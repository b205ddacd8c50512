// The page: sources (camera, dropped photo or video), controls, and the frame loop
// segment -> (temporal smoothing) -> refine -> effect -> composite, drawn on the canvas.
import { composite, renderBackground } from './effects.js';
import { gray } from './image.js';
import { guideLowres, refine, TemporalSmoother } from './matte.js';
import { configureWasm, Segmenter } from './segment.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const MAX_SIDE = 4096; // larger photos are shown scaled down: memory stays bounded
const WINDOW = 30; // frames the median timings are taken over

const canvas = $('out');
const ctx = canvas.getContext('2d');
const grabCanvas = document.createElement('canvas');
const grabCtx = grabCanvas.getContext('2d', { willReadFrequently: true });
const video = $('video');

let config = null;
let seg = null; // the Segmenter in use (null until a model is loaded)
let wasm = null;
let source = null; // {kind: 'camera' | 'video' | 'photo', name, stream?, bitmap?}
let loopToken = 0;
let modelToken = 0;
let busy = false;
let dirty = false; // a photo needs drawing again once the current frame is done
let lastInput = null; // ImageData of the last frame processed (for tests and the comparison with segblur image)
let smoother = null;
const effect = { name: 'blur', strength: 0.5, color: [0, 177, 64], picture: null };
const history = { times: [], inference: [], frame: [], stages: {} };

const stats = { fps: 0, inferenceMs: 0, frameMs: 0, frames: 0, stages: {}, model: '', backend: '', threads: 1,
  simd: false, isolated: self.crossOriginIsolated === true, source: 'none', width: 0, height: 0, onnxruntimeWeb: '' };
window.segblur = { stats, ready: false, error: null, inputDataURL };

function showMessage(text, kind = 'error') {
  const el = $('message');
  el.textContent = text || '';
  el.hidden = !text;
  el.dataset.kind = text ? kind : '';
  window.segblur.error = text ? { text, kind } : null;
}

function inputDataURL() {
  if (!lastInput) return null;
  const c = document.createElement('canvas');
  c.width = lastInput.width;
  c.height = lastInput.height;
  c.getContext('2d').putImageData(lastInput, 0, 0);
  return c.toDataURL('image/png');
}

const median = (a) => (a.length ? [...a].sort((x, y) => x - y)[a.length >> 1] : 0);
const push = (a, v, n = WINDOW) => { a.push(v); if (a.length > n) a.shift(); };

function resetStats(kind) {
  Object.assign(history, { times: [], inference: [], frame: [], stages: {} });
  Object.assign(stats, { fps: 0, inferenceMs: 0, frameMs: 0, frames: 0, source: kind, stages: {} });
  if (smoother) smoother.reset();
}

function backendLabel() {
  if (!seg) return 'no model';
  if (seg.backend === 'webgpu') return 'WebGPU';
  return `WebAssembly${wasm.simd ? ' SIMD' : ''}, ${wasm.threads} thread${wasm.threads > 1 ? 's' : ''}`;
}

let lastStatsText = 0;
function record(inferenceMs, frameMs, stages) {
  const now = performance.now();
  push(history.times, now, 120);
  while (history.times.length > 2 && now - history.times[0] > 2000) history.times.shift();
  push(history.inference, inferenceMs);
  push(history.frame, frameMs);
  for (const [k, v] of Object.entries(stages)) {
    push((history.stages[k] ||= []), v);
    stats.stages[k] = median(history.stages[k]);
  }
  const span = history.times[history.times.length - 1] - history.times[0];
  Object.assign(stats, { frames: stats.frames + 1, inferenceMs: median(history.inference),
    frameMs: median(history.frame),
    fps: history.times.length > 1 && span > 0 ? ((history.times.length - 1) * 1000) / span : 0 });
  if (now - lastStatsText > 250 || source?.kind === 'photo') {
    lastStatsText = now;
    const fps = source?.kind === 'photo' ? '' : `${stats.fps.toFixed(1)} fps · `;
    $('stats').textContent = `${fps}inference ${stats.inferenceMs.toFixed(1)} ms · `
      + `frame ${stats.frameMs.toFixed(1)} ms · `
      + `${stats.width}×${stats.height} · ${seg.name} · ${backendLabel()}`;
  }
}

// One frame through the pipeline; `drawable` is the video element or a photo's ImageBitmap.
async function processFrame(drawable, width, height, stream) {
  const t0 = performance.now();
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const W = Math.max(1, Math.round(width * scale)), H = Math.max(1, Math.round(height * scale));
  if (grabCanvas.width !== W || grabCanvas.height !== H) { grabCanvas.width = W; grabCanvas.height = H; }
  grabCtx.drawImage(drawable, 0, 0, W, H);
  const input = grabCtx.getImageData(0, 0, W, H);
  lastInput = input;
  if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
  Object.assign(stats, { width: W, height: H });
  const model = seg;
  if (!model) { ctx.putImageData(input, 0, 0); return; }
  const frame = { w: W, h: H, c: 4, data: input.data };
  const t1 = performance.now();
  const { prob, ms } = await model.foreground(frame);
  if (model !== seg) return; // the model changed while this frame ran
  const t2 = performance.now();
  const grey = gray(frame);
  let p = prob, guideLow = null;
  if (stream && $('smooth').checked) {
    guideLow = guideLowres(grey, prob.w, prob.h);
    p = smoother.smooth(prob, guideLow, W, H);
  }
  const alpha = refine(p, grey, config.refine, guideLow);
  const t3 = performance.now();
  const background = renderBackground(effect, frame, alpha, config);
  const t4 = performance.now();
  const output = ctx.createImageData(W, H);
  composite(frame, background, alpha, output.data);
  const t5 = performance.now();
  ctx.putImageData(output, 0, 0);
  const t6 = performance.now();
  record(ms, t6 - t0, { grab: t1 - t0, segment: t2 - t1 - ms, inference: ms, refine: t3 - t2, effect: t4 - t3,
    compose: t5 - t4, draw: t6 - t5 });
}

// What to process now: [drawable, width, height, stream] or null (no source, or the video has no frame yet).
function currentFrame() {
  if (source?.kind === 'photo') return [source.bitmap, source.bitmap.width, source.bitmap.height, false];
  if (!source || video.readyState < 2 || video.videoWidth === 0) return null;
  return [video, video.videoWidth, video.videoHeight, true];
  return null;
}

async function step() {
  if (busy) { dirty = true; return; }
  busy = true;
  try {
    do {
      dirty = false;
      const frame = currentFrame();
      if (frame) await processFrame(...frame);
    } while (dirty && source?.kind === 'photo');
    if (window.segblur.error?.kind === 'process') showMessage('');
  } catch (e) {
    showMessage(`Processing failed: ${String(e?.message || e).split('\n')[0]}`, 'process');
  } finally {
    busy = false;
  }
}

function redraw() {
  if (source?.kind === 'photo') step();
}

// Frames of the video element (camera or file), one at a time: frames that arrive while one is processed are skipped.
function startVideoLoop() {
  const token = ++loopToken;
  const next = () => {
    if (token !== loopToken) return;
    if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(tick);
    else requestAnimationFrame(tick);
  };
  const tick = async () => {
    if (token !== loopToken) return;
    await step();
    next();
  };
  next();
}

function stopSource() {
  loopToken++;
  if (source?.stream) source.stream.getTracks().forEach((t) => t.stop());
  if (source?.url) URL.revokeObjectURL(source.url);
  if (source?.bitmap) source.bitmap.close();
  video.pause();
  video.srcObject = null;
  video.removeAttribute('src');
  source = null;
}

function setSource(next, mirror) {
  source = next;
  $('mirror').checked = mirror;
  canvas.classList.toggle('mirror', mirror);
  $('hint').hidden = true;
  resetStats(next.kind);
}

const CAMERA_ERRORS = {
  NotAllowedError: ['camera-denied', 'Camera access was denied. Allow the camera for this page in the browser\'s site '
    + 'settings and press Camera again, or drop a photo or video on the page.'],
  SecurityError: ['camera-denied', 'The browser does not allow the camera on this page. Drop a photo or video '
    + 'instead.'],
  NotFoundError: ['camera-missing', 'No camera was found. Connect one and press Camera, or drop a photo or video.'],
  OverconstrainedError: ['camera-missing', 'No camera offers a usable video mode. Drop a photo or video instead.'],
  NotReadableError: ['camera-busy', 'The camera is in use by another program (or blocked by the system). Close it '
    + 'and press Camera again.'],
};

async function startCamera() {
  stopSource();
  if (!navigator.mediaDevices?.getUserMedia) {
    showMessage(`The camera is only available on a secure page: open http://localhost:${location.port || 80}/ on this `
      + 'machine (or serve over https). Photos and videos can still be dropped here.', 'insecure');
    return;
  }
  showMessage('');
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: false,
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' } });
    video.srcObject = stream;
    await video.play();
    setSource({ kind: 'camera', name: 'camera', stream }, true);
    startVideoLoop();
  } catch (e) {
    const [kind, text] = CAMERA_ERRORS[e?.name] || ['camera-error', 'The camera could not be started '
      + `(${e?.name || 'error'}: ${e?.message || e}). Drop a photo or video instead.`];
    showMessage(text, kind);
    $('hint').hidden = false;
  }
}

const VIDEO_SUFFIX = /\.(mp4|m4v|webm|mkv|mov|ogv)$/i;

async function openFile(file) {
  if (!file) { showMessage('Nothing to open: drop a photo or video file.', 'not-media'); return; }
  const isVideo = file.type.startsWith('video/') || (!file.type && VIDEO_SUFFIX.test(file.name));
  const isImage = file.type.startsWith('image/') || (!file.type && !isVideo);
  if (!isVideo && !isImage) {
    showMessage(`${file.name} is not a photo or video (${file.type}): drop an image (JPEG, PNG, WebP…) or a video.`,
      'not-media');
    return;
  }
  if (isVideo) {
    stopSource();
    const url = URL.createObjectURL(file);
    video.src = url;
    video.loop = true;
    try {
      await video.play();
    } catch (e) {
      URL.revokeObjectURL(url);
      video.removeAttribute('src');
      showMessage(`${file.name} cannot be played by this browser (${e?.message || e}).`, 'decode');
      return;
    }
    showMessage('');
    setSource({ kind: 'video', name: file.name, url }, false);
    startVideoLoop();
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', imageOrientation: 'from-image' });
  } catch {
    showMessage(`${file.name} is not an image this browser can read (damaged or not a picture).`, 'not-media');
    return;
  }
  stopSource();
  showMessage('');
  setSource({ kind: 'photo', name: file.name, bitmap }, false);
  redraw();
}

async function selectModel(name) {
  const entry = config.models.find((m) => m.name === name);
  if (!entry) {
    showMessage(`There is no model named ${name} (models: ${config.models.map((m) => m.name).join(', ')}).`, 'model');
    return;
  }
  const token = ++modelToken, backend = $('backend').value;
  $('model').value = name;
  $('model').disabled = true;
  $('stats').textContent = `loading ${name}…`;
  try {
    const next = await Segmenter.load(entry, backend);
    if (token !== modelToken) { next.release(); return; }
    const old = seg;
    seg = next;
    seg.preference = backend;
    Object.assign(stats, { model: next.name, backend: next.backend });
    if (old) old.release().catch(() => {});
    if (smoother) smoother.reset();
    if (window.segblur.error?.kind === 'model') showMessage('');
    redraw();
  } catch (e) {
    if (token !== modelToken) return;
    showMessage(`${e.message}. ${seg ? `Still using ${seg.name}.` : 'Frames are shown unprocessed.'}`, 'model');
    if (seg) { $('model').value = seg.name; $('backend').value = seg.preference; }
  } finally {
    if (token === modelToken) $('model').disabled = false;
  }
}

function setEffect(name) {
  const rule = config.effects[name];
  Object.assign(effect, { name, strength: rule.default_strength });
  $('effect').value = name;
  $('strength').value = String(effect.strength);
  $('strength-value').textContent = effect.strength.toFixed(2);
  $('picture-row').hidden = name !== 'image';
  $('color-row').hidden = name !== 'color';
  if (name === 'image' && !effect.picture) effect.picture = { bitmap: defaultPicture() };
  redraw();
}

// Until a picture is chosen: a soft sky-to-meadow gradient.
function defaultPicture() {
  const c = new OffscreenCanvas(640, 360), g = c.getContext('2d'), grad = g.createLinearGradient(0, 0, 0, 360);
  for (const [at, colour] of [[0, '#7fb2e5'], [0.6, '#d9ecf7'], [0.61, '#7fae6a'], [1, '#3f6e3a']]) {
    grad.addColorStop(at, colour);
  }
  g.fillStyle = grad;
  g.fillRect(0, 0, 640, 360);
  return c.transferToImageBitmap();
}

function wireControls() {
  $('camera').addEventListener('click', startCamera);
  $('file').addEventListener('change', (e) => { openFile(e.target.files[0]); e.target.value = ''; });
  $('effect').addEventListener('change', (e) => setEffect(e.target.value));
  $('strength').addEventListener('input', (e) => {
    effect.strength = Number(e.target.value);
    $('strength-value').textContent = effect.strength.toFixed(2);
    if (effect.picture) effect.picture.cache = null;
    redraw();
  });
  $('color').addEventListener('input', (e) => {
    const v = e.target.value;
    effect.color = [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16));
    redraw();
  });
  $('picture').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    try {
      effect.picture = { bitmap: await createImageBitmap(file) };
      showMessage('');
      redraw();
    } catch {
      showMessage(`${file?.name || 'That file'} is not an image this browser can read.`, 'not-media');
    }
  });
  $('model').addEventListener('change', (e) => selectModel(e.target.value));
  $('backend').addEventListener('change', () => seg && selectModel(seg.name));
  $('mirror').addEventListener('change', (e) => canvas.classList.toggle('mirror', e.target.checked));
  $('smooth').addEventListener('change', () => smoother && smoother.reset());
  const stage = $('stage');
  window.addEventListener('dragover', (e) => { e.preventDefault(); stage.classList.add('drag'); });
  window.addEventListener('dragleave', () => stage.classList.remove('drag'));
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    stage.classList.remove('drag');
    openFile(e.dataTransfer?.files?.[0]);
  });
}

async function main() {
  wireControls();
  try {
    const resp = await fetch('api/config');
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    config = await resp.json();
  } catch (e) {
    showMessage(`Cannot reach the segblur server (${e.message}): is \`segblur serve\` still running?`, 'server');
    return;
  }
  wasm = configureWasm(Number(params.get('threads')) || 0);
  Object.assign(stats, { threads: wasm.threads, simd: wasm.simd,
    onnxruntimeWeb: config.onnxruntime_web || wasm.version });
  smoother = new TemporalSmoother(config.temporal);
  effect.color = config.effects.color.color;
  $('color').value = `#${effect.color.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
  for (const m of config.models) $('model').add(new Option(m.name, m.name));
  if (params.get('backend')) $('backend').value = params.get('backend');
  setEffect(params.get('effect') && config.effects[params.get('effect')] ? params.get('effect') : 'blur');
  const loading = selectModel(params.get('model') || config.default_model);
  if (params.get('camera') !== '0') startCamera();
  else $('hint').hidden = false;
  await loading;
  window.segblur.ready = true;
}

main();
