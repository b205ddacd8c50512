// Image primitives with OpenCV's semantics, so the page computes what segblur's Python runtime computes.
// An image is {w, h, c, data}: c interleaved channels; data a Uint8ClampedArray (0..255, as ImageData holds frames:
// RGBA, c = 4, the 4th channel ignored) or a Float32Array. Loops are written flat: they run on every frame.

export function image(w, h, c, Type = Float32Array) {
  return { w, h, c, data: new Type(w * h * c) };
}

const isFloat = (img) => img.data instanceof Float32Array;

// Python's round(): halves go to the even neighbour (the runtime sizes its low-resolution images with it).
export function pyRound(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// segblur.runtime.resize.kept_size: [h, w] of a "keep" model's input for an image of h x w, its aspect (at most
// 2:1) at about budgetH x budgetW pixels, sides multiples of 16, rounded as Python rounds.
export function keptSize(h, w, budgetH, budgetW, multiple = 16, maxAspect = 2) {
  const area = budgetH * budgetW, ratio = Math.min(Math.max(h / w, 1 / maxAspect), maxAspect);
  const side = (v) => Math.max(multiple, pyRound(Math.sqrt(v) / multiple) * multiple);
  return [side(area * ratio), side(area / ratio)];
}

// cv2.cvtColor(RGB2GRAY) on uint8 (fixed point, 14 bits) of an RGB or RGBA image.
export function gray(rgb) {
  const out = image(rgb.w, rgb.h, 1, Uint8ClampedArray), s = rgb.data, d = out.data, c = rgb.c;
  for (let i = 0, j = 0, n = rgb.w * rgb.h; i < n; i++, j += c) {
    d[i] = (s[j] * 4899 + s[j + 1] * 9617 + s[j + 2] * 1868 + 8192) >> 14;
  }
  return out;
}

// cv2.resize(INTER_AREA) to half the size, rounded down: 2x2 means (uint8 rounded as OpenCV does), or for an odd
// side the general area reduction OpenCV then uses. Kept on the image: the model input and the background filter
// both start from the same half-size frame.
export function halve(src) {
  if (src.half) return src.half;
  const w = src.w >> 1, h = src.h >> 1, c = src.c, stride = src.w * c;
  if (src.w % 2 || src.h % 2) {
    src.half = resizeArea(src, w, h);
    return src.half;
  }
  const out = image(w, h, c, src.data.constructor), s = src.data, d = out.data;
  if (isFloat(src)) {
    for (let y = 0, o = 0; y < h; y++) {
      let i0 = 2 * y * stride, i1 = i0 + stride;
      for (let x = 0; x < w; x++, i0 += c, i1 += c) {
        for (let k = 0; k < c; k++, i0++, i1++) d[o++] = (s[i0] + s[i0 + c] + s[i1] + s[i1 + c]) * 0.25;
      }
    }
  } else {
    for (let y = 0, o = 0; y < h; y++) {
      let i0 = 2 * y * stride, i1 = i0 + stride;
      for (let x = 0; x < w; x++, i0 += c, i1 += c) {
        for (let k = 0; k < c; k++, i0++, i1++) d[o++] = (s[i0] + s[i0 + c] + s[i1] + s[i1 + c] + 2) >> 2;
      }
    }
  }
  src.half = out;
  return out;
}

// Per destination index: [start, end) into source indices and weights of an area (box) reduction from n to m.
function areaTable(n, m) {
  const scale = n / m, idx = [], wts = [], start = new Int32Array(m + 1);
  for (let i = 0; i < m; i++) {
    start[i] = idx.length;
    const f1 = i * scale, f2 = f1 + scale;
    for (let s = Math.floor(f1); s < Math.min(n, Math.ceil(f2)); s++) {
      const overlap = Math.min(f2, s + 1) - Math.max(f1, s);
      if (overlap > 1e-9) { idx.push(s); wts.push(overlap / scale); }
    }
  }
  start[m] = idx.length;
  return { idx: Int32Array.from(idx), wts: Float32Array.from(wts), start };
}

// Per destination index: the two source indices and the weight of the second (bilinear, half-pixel centres).
export function linearTable(n, m) {
  const i0 = new Int32Array(m), i1 = new Int32Array(m), a = new Float32Array(m), scale = n / m;
  for (let i = 0; i < m; i++) {
    const f = (i + 0.5) * scale - 0.5;
    let s = Math.floor(f), t = f - s;
    if (s < 0) { s = 0; t = 0; }
    if (s >= n - 1) { s = n - 1; t = 0; }
    i0[i] = s; i1[i] = Math.min(s + 1, n - 1); a[i] = t;
  }
  return { i0, i1, a };
}

// A float result as an image of `like`'s type (uint8: rounded).
function typed(acc, w, h, c, like) {
  if (isFloat(like)) return { w, h, c, data: acc };
  const out = image(w, h, c, Uint8ClampedArray);
  out.data.set(acc); // Uint8ClampedArray rounds to nearest (OpenCV's saturate_cast)
  return out;
}

// cv2.resize(INTER_AREA) for shrinking: separable box-weighted averages.
export function resizeArea(src, tw, th) {
  const { w, h, c, data: s } = src, tx = areaTable(w, tw), ty = areaTable(h, th), rl = tw * c;
  const xi = tx.idx, xw = tx.wts, xs = tx.start, yi = ty.idx, yw = ty.wts, ys = ty.start;
  const tmp = new Float32Array(h * rl), acc = new Float32Array(th * rl);
  for (let y = 0; y < h; y++) {
    const row = y * w * c, trow = y * rl;
    for (let x = 0; x < tw; x++) {
      const o = trow + x * c;
      for (let q = xs[x]; q < xs[x + 1]; q++) {
        const p = row + xi[q] * c, wt = xw[q];
        for (let k = 0; k < c; k++) tmp[o + k] += s[p + k] * wt;
      }
    }
  }
  for (let y = 0; y < th; y++) {
    const o = y * rl;
    for (let q = ys[y]; q < ys[y + 1]; q++) {
      const p = yi[q] * rl, wt = yw[q];
      for (let j = 0; j < rl; j++) acc[o + j] += tmp[p + j] * wt;
    }
  }
  return typed(acc, tw, th, c, src);
}

// cv2.resize(INTER_LINEAR): bilinear with half-pixel centres, edges clamped.
export function resizeLinear(src, tw, th) {
  const { w, h, c, data: s } = src, tx = linearTable(w, tw), ty = linearTable(h, th), rl = tw * c;
  const rows = new Float32Array(h * rl); // every source row interpolated horizontally
  for (let y = 0; y < h; y++) {
    const row = y * w * c, trow = y * rl;
    for (let x = 0; x < tw; x++) {
      const a = tx.a[x], p0 = row + tx.i0[x] * c, p1 = row + tx.i1[x] * c, o = trow + x * c;
      for (let k = 0; k < c; k++) rows[o + k] = s[p0 + k] + (s[p1 + k] - s[p0 + k]) * a;
    }
  }
  const acc = new Float32Array(th * rl);
  for (let y = 0; y < th; y++) {
    const a = ty.a[y], r0 = ty.i0[y] * rl, r1 = ty.i1[y] * rl, o = y * rl;
    for (let j = 0; j < rl; j++) acc[o + j] = rows[r0 + j] + (rows[r1 + j] - rows[r0 + j]) * a;
  }
  return typed(acc, tw, th, c, src);
}

// segblur.runtime.resize.downscale: halve while at least twice the target, then one area (or bilinear) resize.
export function downscale(src, tw, th) {
  let img = src;
  while (img.w >= 2 * tw && img.h >= 2 * th) img = halve(img);
  if (img.w === tw && img.h === th) return img;
  return img.w > tw && img.h > th ? resizeArea(img, tw, th) : resizeLinear(img, tw, th);
}

// Separable filter of a float image along x and y with a symmetric kernel; `at(i, n)` maps an index outside 0..n-1
// to a source index. Pairs of taps share one multiply.
function separable(src, kernel, at) {
  const { w, h, c, data: s } = src, r = (kernel.length - 1) / 2, rl = w * c, kc = kernel[r];
  const xs = Int32Array.from({ length: w + 2 * r }, (_, i) => at(i - r, w));
  const ys = Int32Array.from({ length: h + 2 * r }, (_, i) => at(i - r, h));
  const row = new Float32Array((w + 2 * r) * c), tmp = new Float32Array(h * rl), out = image(w, h, c), d = out.data;
  for (let y = 0; y < h; y++) {
    for (let i = 0, p = 0; i < w + 2 * r; i++) {
      const q = (y * w + xs[i]) * c;
      for (let k = 0; k < c; k++) row[p++] = s[q + k];
    }
    const o = y * rl;
    for (let j = 0; j < rl; j++) {
      const mid = j + r * c;
      let acc = row[mid] * kc;
      for (let t = 1, step = c; t <= r; t++, step += c) acc += (row[mid - step] + row[mid + step]) * kernel[r + t];
      tmp[o + j] = acc;
    }
  }
  for (let y = 0; y < h; y++) {
    const o = y * rl, m = ys[y + r] * rl;
    for (let j = 0; j < rl; j++) d[o + j] = tmp[m + j] * kc;
    for (let t = 1; t <= r; t++) {
      const kt = kernel[r + t], lo = ys[y + r - t] * rl, hi = ys[y + r + t] * rl;
      for (let j = 0; j < rl; j++) d[o + j] += (tmp[lo + j] + tmp[hi + j]) * kt;
    }
  }
  return out;
}

const reflect = (i, n) => (i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i); // BORDER_REFLECT
const replicate = (i, n) => (i < 0 ? 0 : i >= n ? n - 1 : i); // BORDER_REPLICATE

// cv2.boxFilter(normalize=True, BORDER_REFLECT) with a (2r+1)^2 window, on a one-channel float image: running sums.
export function boxReflect(src, r) {
  const { w, h, data: s } = src, n = 2 * r + 1, scale = 1 / (n * n);
  const xs = Int32Array.from({ length: w + 2 * r }, (_, i) => reflect(i - r, w));
  const ys = Int32Array.from({ length: h + 2 * r }, (_, i) => reflect(i - r, h));
  const tmp = new Float32Array(w * h), out = image(w, h, 1), d = out.data, col = new Float64Array(w);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let acc = 0;
    for (let t = 0; t < n; t++) acc += s[row + xs[t]];
    tmp[row] = acc;
    for (let x = 1; x < w; x++) {
      acc += s[row + xs[x + n - 1]] - s[row + xs[x - 1]];
      tmp[row + x] = acc;
    }
  }
  for (let t = 0; t < n; t++) for (let x = 0, q = ys[t] * w; x < w; x++) col[x] += tmp[q + x];
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let x = 0; x < w; x++) d[o + x] = col[x] * scale;
    if (y + 1 < h) {
      const add = ys[y + n] * w, sub = ys[y] * w;
      for (let x = 0; x < w; x++) col[x] += tmp[add + x] - tmp[sub + x];
    }
  }
  return out;
}

// cv2.GaussianBlur(ksize=(0, 0), sigma, BORDER_REPLICATE) on a float image (kernel size as OpenCV picks it).
export function gaussian(src, sigma) {
  const n = Math.round(sigma * 8 + 1) | 1, kernel = new Float32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp((-0.5 * (i - (n - 1) / 2) ** 2) / (sigma * sigma));
  for (let i = 0; i < n; i++) kernel[i] = Math.exp((-0.5 * (i - (n - 1) / 2) ** 2) / (sigma * sigma)) / sum;
  return separable(src, kernel, replicate);
}

// cv2.filter2D(BORDER_REPLICATE) with the normalised disc of cv2.getStructuringElement(MORPH_ELLIPSE, 2r+1):
// each kernel row is a run of equal weights, summed from per-row prefix sums.
export function disc(src, r) {
  const { w, h, c, data: s } = src, spans = new Int32Array(2 * r + 1);
  let count = 0;
  for (let dy = -r; dy <= r; dy++) {
    spans[dy + r] = Math.round(Math.sqrt(r * r - dy * dy));
    count += 2 * spans[dy + r] + 1;
  }
  const pw = w + 2 * r + 1, prefix = new Float64Array(h * pw * c); // prefix[y][i]: sum of the padded row before i
  for (let y = 0; y < h; y++) {
    for (let k = 0; k < c; k++) {
      let acc = 0;
      for (let i = 1; i < pw; i++) {
        acc += s[(y * w + replicate(i - 1 - r, w)) * c + k];
        prefix[(y * pw + i) * c + k] = acc;
      }
    }
  }
  const out = image(w, h, c), d = out.data;
  for (let y = 0; y < h; y++) {
    for (let dy = -r; dy <= r; dy++) {
      const row = replicate(y + dy, h) * pw, dx = spans[dy + r];
      for (let x = 0; x < w; x++) {
        const hi = (row + x + r + dx + 1) * c, lo = (row + x + r - dx) * c, o = (y * w + x) * c;
        for (let k = 0; k < c; k++) d[o + k] += prefix[hi + k] - prefix[lo + k];
      }
    }
  }
  for (let i = 0; i < d.length; i++) d[i] /= count;
  return out;
}
