// Backgrounds and compositing as segblur.runtime.effects and segblur.runtime.compose: blurs filter the frame
// premultiplied by the background weight and divide by the filtered weight (normalised convolution, no halo),
// at a reduced resolution; the result is blended with alpha * frame + (1 - alpha) * background.
import { disc, downscale, gaussian, halve, image, linearTable, pyRound, resizeLinear } from './image.js';

// compose.weighted_downscale: background-premultiplied frame (RGB) and weight at (lw, lh).
function weightedDownscale(frame, alpha, lw, lh, floor) {
  let f = frame, a = { w: frame.w, h: frame.h, c: 1, data: alpha };
  if (f.w >= 4 * lw && f.h >= 4 * lh) { f = halve(f); a = halve(a); }
  const n = f.w * f.h, c = f.c, fd = f.data, ad = a.data, w = image(f.w, f.h, 1), prem = image(f.w, f.h, 3);
  const wd = w.data, pd = prem.data;
  for (let i = 0, j = 0; i < n; i++, j += c) {
    const wt = Math.max(1 - ad[i], floor);
    wd[i] = wt;
    pd[3 * i] = fd[j] * wt;
    pd[3 * i + 1] = fd[j + 1] * wt;
    pd[3 * i + 2] = fd[j + 2] * wt;
  }
  return [downscale(prem, lw, lh), downscale(w, lw, lh)];
}

// effects._LowResFilter.downscaled: null when the effect is too weak to show.
function lowRes(frame, alpha, strength, rule, floor) {
  const { w: W, h: H } = frame, size = strength * rule.scale_factor * Math.min(W, H);
  if (size < 0.5) return null;
  const k = Math.min(1, rule.low_sigma / size);
  const lw = Math.max(8, pyRound(W * k)), lh = Math.max(8, pyRound(H * k));
  const [prem, w] = weightedDownscale(frame, alpha, lw, lh, floor);
  return { prem, w, sizeLow: (size * lw) / W };
}

function blurBackground(frame, alpha, strength, rule, floor) {
  const low = lowRes(frame, alpha, strength, rule, floor);
  if (!low) return frame;
  const p = gaussian(low.prem, low.sizeLow), w = gaussian(low.w, low.sizeLow);
  const out = image(p.w, p.h, 3, Uint8ClampedArray), pd = p.data, wd = w.data, od = out.data;
  for (let i = 0; i < p.w * p.h; i++) {
    const d = 1 / Math.max(wd[i], 1e-6);
    for (let k = 3 * i; k < 3 * i + 3; k++) od[k] = Math.floor(pd[k] * d); // astype(uint8) truncates
  }
  return out;
}

function bokehBackground(frame, alpha, strength, rule, floor) {
  const low = lowRes(frame, alpha, strength, rule, floor);
  if (!low) return frame;
  const { prem, w, sizeLow } = low, n = w.w * w.h, g = rule.gamma, r = Math.max(1, pyRound(sizeLow));
  // Linear light, re-premultiplied with the floor taken out (see effects.LensBlur.render).
  const lin = image(w.w, w.h, 3), wt = image(w.w, w.h, 1);
  for (let i = 0; i < n; i++) {
    const d = Math.max(w.data[i], 1e-6);
    wt.data[i] = Math.max(w.data[i] - floor, 0) + 1e-9;
    for (let k = 0; k < 3; k++) {
      const c = Math.min(1, Math.max(0, prem.data[3 * i + k] / d / 255));
      lin.data[3 * i + k] = Math.pow(c, g) * wt.data[i];
    }
  }
  const fl = disc(lin, r), fw = disc(wt, r), out = image(w.w, w.h, 3, Uint8ClampedArray);
  for (let i = 0; i < n; i++) {
    const d = Math.max(fw.data[i], 1e-6);
    for (let k = 0; k < 3; k++) {
      out.data[3 * i + k] = Math.floor(Math.pow(Math.min(1, Math.max(0, fl.data[3 * i + k] / d)), 1 / g) * 255);
    }
  }
  return out;
}

function colorBackground(frame, strength, color) {
  if (strength >= 1) { // a flat image: tiny, the compositor upsamples it
    const out = image(Math.max(1, frame.w >> 4), Math.max(1, frame.h >> 4), 3, Uint8ClampedArray);
    for (let i = 0; i < out.data.length; i++) out.data[i] = color[i % 3];
    return out;
  }
  const lut = [0, 1, 2].map((k) => Float32Array.from({ length: 256 },
    (_, v) => v * (1 - strength) + color[k] * strength));
  const out = image(frame.w, frame.h, 3, Uint8ClampedArray), s = frame.data, c = frame.c;
  for (let i = 0, j = 0; i < frame.w * frame.h; i++, j += c) {
    for (let k = 0; k < 3; k++) out.data[3 * i + k] = lut[k][s[j + k]];
  }
  return out;
}

// effects.ReplaceImage: the picture scaled to cover the frame and centred (RGB uint8 at W x H), blurred by strength.
function pictureBackground(picture, W, H, strength, rules) {
  const key = `${W}x${H}:${strength}`;
  if (picture.cache?.key === key) return picture.cache.img;
  const { width: w, height: h } = picture.bitmap, s = Math.max(W / w, H / h);
  const canvas = new OffscreenCanvas(W, H), ctx = canvas.getContext('2d');
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(picture.bitmap, (W - w * s) / 2, (H - h * s) / 2, w * s, h * s);
  const data = ctx.getImageData(0, 0, W, H).data;
  let img = { w: W, h: H, c: 4, data };
  if (strength > 0) {
    const blurred = blurBackground(img, new Float32Array(W * H), strength, rules.effects.blur, rules.floor);
    img = blurred.w === W && blurred.h === H ? blurred : resizeLinear(blurred, W, H);
  }
  picture.cache = { key, img };
  return img;
}

// The background for `effect` = {name, strength, color: [r, g, b], picture: {bitmap}}: RGB uint8, frame-sized or
// smaller with the frame's aspect ratio (composite() upsamples it).
export function renderBackground(effect, frame, alpha, rules) {
  const rule = rules.effects[effect.name];
  switch (effect.name) {
    case 'blur': return blurBackground(frame, alpha, effect.strength, rule, rules.floor);
    case 'bokeh': return bokehBackground(frame, alpha, effect.strength, rule, rules.floor);
    case 'color': return colorBackground(frame, effect.strength, effect.color);
    case 'image': return pictureBackground(effect.picture, frame.w, frame.h, effect.strength, rules);
    default: throw new Error(`unknown effect ${effect.name}`);
  }
}

// compose.composite: alpha * frame + (1 - alpha) * background (cv2.blendLinear), into RGBA pixels `out`. A smaller
// background is first upsampled bilinearly to uint8, as cv2.resize does, fused into the same pass.
export function composite(frame, background, alpha, out) {
  const W = frame.w, H = frame.h, f = frame.data, fc = frame.c, bc = background.c, b = background.data;
  const norm = 1 / (1 + 1e-5);
  if (background.w === W && background.h === H) {
    for (let i = 0, j = 0, q = 0; i < W * H; i++, j += fc, q += bc) {
      const a = alpha[i], inv = 1 - a;
      out[4 * i] = (f[j] * a + b[q] * inv) * norm;
      out[4 * i + 1] = (f[j + 1] * a + b[q + 1] * inv) * norm;
      out[4 * i + 2] = (f[j + 2] * a + b[q + 2] * inv) * norm;
      out[4 * i + 3] = 255;
    }
    return;
  }
  // cv2's uint8 bilinear in fixed point: weights in 1/2048, rows scaled by 2048, rounded with a shift.
  const bw = background.w, bh = background.h, tx = linearTable(bw, W), ty = linearTable(bh, H);
  const rows = new Int32Array(bh * W * 3); // background rows, interpolated horizontally (x 2048)
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < W; x++) {
      const a1 = Math.round(tx.a[x] * 2048), a0 = 2048 - a1, o = (y * W + x) * 3;
      const p0 = (y * bw + tx.i0[x]) * bc, p1 = (y * bw + tx.i1[x]) * bc;
      for (let k = 0; k < 3; k++) rows[o + k] = b[p0 + k] * a0 + b[p1 + k] * a1;
    }
  }
  for (let y = 0; y < H; y++) {
    const b1 = Math.round(ty.a[y] * 2048), b0 = 2048 - b1, r0 = ty.i0[y] * W * 3, r1 = ty.i1[y] * W * 3;
    for (let x = 0, i = y * W, j = i * fc, p = 0; x < W; x++, i++, j += fc, p += 3) {
      const a = alpha[i], o = 4 * i;
      out[o + 3] = 255;
      if (a === 1) { // the person: the frame as it is (the blend rounds to it exactly), no background to sample
        out[o] = f[j]; out[o + 1] = f[j + 1]; out[o + 2] = f[j + 2];
        continue;
      }
      const inv = 1 - a;
      for (let k = 0; k < 3; k++) {
        const bg = (rows[r0 + p + k] * b0 + rows[r1 + p + k] * b1 + 2097152) >> 22;
        out[o + k] = (f[j + k] * a + bg * inv) * norm;
      }
    }
  }
}
