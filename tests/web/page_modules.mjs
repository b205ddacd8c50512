// Runs the page's own compositing modules under Node.js on inputs written by test_compositing.py, so the test can
// compare them with the Python runtime. Usage: node page_modules.mjs DIR (DIR/job.json says what to compute).
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const job = JSON.parse(fs.readFileSync(path.join(dir, 'job.json'), 'utf8'));
const { gray, downscale, keptSize } = await import(`${job.static}/image.js`);
const { refine, guideLowres, TemporalSmoother } = await import(`${job.static}/matte.js`);
const { renderBackground, composite } = await import(`${job.static}/effects.js`);

const read = (name, Type) => new Type(new Uint8Array(fs.readFileSync(path.join(dir, name))).buffer);
const write = (name, arr) => fs.writeFileSync(path.join(dir, name), Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength));
const frameOf = (name, w, h) => ({ w, h, c: 4, data: read(name, Uint8ClampedArray) });

if (job.kind === 'frame') {
  const { w, h, pw, ph } = job;
  const frame = frameOf('frame.rgba', w, h);
  write('small.rgba', downscale(frame, job.model_size[1], job.model_size[0]).data);
  const prob = { w: pw, h: ph, c: 1, data: read('prob.f32', Float32Array) };
  const alpha = refine(prob, gray(frame), job.config.refine);
  write('alpha.f32', alpha);
  for (const [i, effect] of job.effects.entries()) {
    const out = new Uint8ClampedArray(w * h * 4);
    // A fresh frame object per effect: the half-size frame kept on it is per frame, as in the page.
    const f = frameOf('frame.rgba', w, h);
    composite(f, renderBackground(effect, f, alpha, job.config), alpha, out);
    write(`out${i}.rgba`, out);
  }
} else if (job.kind === 'sizes') {
  fs.writeFileSync(path.join(dir, 'sizes.json'), JSON.stringify(job.images.map(([h, w]) => keptSize(h, w, ...job.budget))));
} else if (job.kind === 'temporal') {
  const { w, h, pw, ph, frames } = job, smoother = new TemporalSmoother(job.config.temporal);
  for (let i = 0; i < frames; i++) {
    const frame = frameOf(`frame${i}.rgba`, w, h), prob = { w: pw, h: ph, c: 1, data: read(`prob${i}.f32`, Float32Array) };
    write(`smooth${i}.f32`, smoother.smooth(prob, guideLowres(gray(frame), pw, ph), w, h).data);
  }
}
