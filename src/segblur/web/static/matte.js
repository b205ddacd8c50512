// Low-resolution probability -> full-resolution alpha, as segblur.runtime.refine (guided filter, threshold and
// softness folded into its coefficients) and segblur.runtime.temporal (asymmetric, motion-aware smoothing).
import { boxReflect, downscale, image } from './image.js';

// refine.guide_lowres: the grey frame box-shrunk to the probability's size, float 0..1.
export function guideLowres(grey, w, h) {
  const small = downscale(grey, w, h), out = image(w, h, 1);
  for (let i = 0; i < w * h; i++) out.data[i] = small.data[i] / 255;
  return out;
}

function product(a, b) {
  const out = image(a.w, a.h, 1), d = out.data, x = a.data, y = b.data;
  for (let i = 0; i < d.length; i++) d[i] = x[i] * y[i];
  return out;
}

// refine.refine with guided=True, grow 0, feather 0: alpha (Float32Array, W*H) from the probability `prob`
// (h x w float), the full-resolution grey frame `grey` (uint8) and optionally the grey's guideLowres.
export function refine(prob, grey, cfg, guideLow = null) {
  const { w, h } = prob, r = cfg.radius, s = Math.max(cfg.softness, 1e-3);
  const g = guideLow || guideLowres(grey, w, h);
  const meanI = boxReflect(g, r), meanP = boxReflect(prob, r);
  const corrI = boxReflect(product(g, g), r), corrIP = boxReflect(product(g, prob), r);
  const a = image(w, h, 1), b = image(w, h, 1);
  for (let i = 0; i < w * h; i++) {
    const varI = corrI.data[i] - meanI.data[i] * meanI.data[i];
    const cov = corrIP.data[i] - meanI.data[i] * meanP.data[i];
    a.data[i] = cov / (varI + cfg.eps);
    b.data[i] = meanP.data[i] - a.data[i] * meanI.data[i];
  }
  const A = boxReflect(a, r), B = boxReflect(b, r);
  for (let i = 0; i < w * h; i++) {
    A.data[i] *= 1 / (255 * s); // the full-resolution guide stays in 0..255
    B.data[i] = (B.data[i] - cfg.threshold) * (1 / s) + 0.5;
  }
  return applyLinear(A, B, grey);
}

// clip(resize(A) * grey + resize(B), 0, 1) with cv2's bilinear resize, fused: no full-size A and B.
function applyLinear(A, B, grey) {
  const { w, h } = A, W = grey.w, H = grey.h, sx = w / W, sy = h / H;
  const x0 = new Int32Array(W), x1 = new Int32Array(W), ax = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    let f = (x + 0.5) * sx - 0.5, s = Math.floor(f), t = f - s;
    if (s < 0) { s = 0; t = 0; }
    if (s >= w - 1) { s = w - 1; t = 0; }
    x0[x] = s; x1[x] = Math.min(s + 1, w - 1); ax[x] = t;
  }
  const rowA = new Float32Array(h * W), rowB = new Float32Array(h * W);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * w, t = ax[x];
      rowA[y * W + x] = A.data[p + x0[x]] + (A.data[p + x1[x]] - A.data[p + x0[x]]) * t;
      rowB[y * W + x] = B.data[p + x0[x]] + (B.data[p + x1[x]] - B.data[p + x0[x]]) * t;
    }
  }
  const alpha = new Float32Array(W * H), gd = grey.data;
  for (let y = 0; y < H; y++) {
    let f = (y + 0.5) * sy - 0.5, s = Math.floor(f), t = f - s;
    if (s < 0) { s = 0; t = 0; }
    if (s >= h - 1) { s = h - 1; t = 0; }
    const r0 = s * W, r1 = Math.min(s + 1, h - 1) * W, o = y * W;
    for (let x = 0; x < W; x++) {
      const a = rowA[r0 + x] + (rowA[r1 + x] - rowA[r0 + x]) * t;
      const b = rowB[r0 + x] + (rowB[r1 + x] - rowB[r0 + x]) * t;
      const v = a * gd[o + x] + b;
      alpha[o + x] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return alpha;
}

// temporal.TemporalSmoother.smooth: one stream's smoothed low-resolution probability; reset() starts a new stream.
export class TemporalSmoother {
  constructor(cfg) {
    this.cfg = cfg;
    this.reset();
  }

  reset() {
    this.state = null;
    this.thumb = null;
    this.frameSize = '';
  }

  smooth(prob, thumb, W, H) {
    const cfg = this.cfg, n = prob.w * prob.h, size = `${W}x${H}:${prob.w}x${prob.h}`;
    let fresh = this.state === null || this.frameSize !== size, change = null;
    if (!fresh) {
      change = new Float32Array(n);
      let sum = 0;
      for (let i = 0; i < n; i++) { change[i] = Math.abs(thumb.data[i] - this.thumb.data[i]); sum += change[i]; }
      if (sum / n > cfg.motion_threshold) fresh = true;
    }
    if (fresh) {
      this.state = Float32Array.from(prob.data);
    } else {
      const moved = cfg.local_motion > 0 ? blur3(change, prob.w, prob.h) : null, st = this.state;
      for (let i = 0; i < n; i++) {
        let weight = prob.data[i] > st[i] ? cfg.rise : cfg.fall;
        if (moved) weight = Math.max(weight, Math.min(moved[i] / cfg.local_motion, 1));
        st[i] += (prob.data[i] - st[i]) * weight;
      }
    }
    this.thumb = { data: Float32Array.from(thumb.data) };
    this.frameSize = size;
    return { w: prob.w, h: prob.h, c: 1, data: Float32Array.from(this.state) };
  }
}

// cv2.blur(3x3, BORDER_REPLICATE).
function blur3(src, w, h) {
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let acc = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = Math.min(h - 1, Math.max(0, y + dy)) * w;
        for (let dx = -1; dx <= 1; dx++) acc += src[yy + Math.min(w - 1, Math.max(0, x + dx))];
      }
      out[y * w + x] = acc / 9;
    }
  }
  return out;
}
