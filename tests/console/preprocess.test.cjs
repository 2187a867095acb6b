// server/console/preprocess.js (MNIST's preprocessing, run in the page) in
// node, on real test digits: an MNIST digit is already in MNIST's form, so
// it must come back nearly unchanged, wherever and however large it is
// drawn; nothing drawn gives null; a dark digit on white is inverted.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { nnPreprocess } = require(path.join(__dirname, '../../server/console/preprocess.js'));
const { testDigits } = require('./mnist_digits.cjs');

const DATA = process.env.NNSERVE_DATA_DIR || path.join(__dirname, '../../data');
const digits = testDigits(DATA, 20);

function floats(pixels) { return Float32Array.from(pixels, (p) => p / 255); }

// Cosine similarity of two images.
function similarity(a, b) {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; ++i) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

// `image` (28x28) enlarged `k` times (nearest) into a side x side field at
// (ox, oy).
function enlarge(image, k, side, ox, oy) {
  const out = new Float32Array(side * side);
  for (let y = 0; y < 28 * k; ++y) {
    for (let x = 0; x < 28 * k; ++x) {
      out[(y + oy) * side + x + ox] = image[Math.floor(y / k) * 28 + Math.floor(x / k)];
    }
  }
  return out;
}

test('the digits cover every class', () => {
  assert.deepStrictEqual([...new Set(digits.map((d) => d.label))].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('an MNIST digit comes back nearly as it was', () => {
  for (const d of digits) {
    const out = nnPreprocess.toMnist(floats(d.pixels), 28, 28);
    assert.strictEqual(out.length, 784);
    assert.ok(similarity(out, floats(d.pixels)) > 0.9, `label ${d.label}`);
  }
});

test('a digit drawn ten times larger, off centre, comes back in MNIST form', () => {
  for (const d of digits) {
    const big = enlarge(floats(d.pixels), 10, 400, 37, 91);
    const out = nnPreprocess.toMnist(big, 400, 400);
    assert.ok(similarity(out, floats(d.pixels)) > 0.85, `label ${d.label}`);
    // The longer side of the ink is 20 pixels, the mass at the centre.
    let x0 = 28, x1 = -1, y0 = 28, y1 = -1, m = 0, mx = 0, my = 0;
    out.forEach((v, i) => {
      const x = i % 28, y = Math.floor(i / 28);
      if (v > 0.1) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
      m += v; mx += v * (x + 0.5); my += v * (y + 0.5);
    });
    assert.ok(Math.max(x1 - x0 + 1, y1 - y0 + 1) >= 19 && Math.max(x1 - x0 + 1, y1 - y0 + 1) <= 20);
    assert.ok(Math.abs(mx / m - 14.5) <= 0.5 && Math.abs(my / m - 14.5) <= 0.5, `${mx / m}, ${my / m}`);
  }
});

test('a blank pad gives null', () => {
  assert.strictEqual(nnPreprocess.toMnist(new Float32Array(280 * 280), 280, 280), null);
});

test('a dark digit on a light background is inverted, a light one is not', () => {
  const light = floats(digits[0].pixels).map((v) => 1 - v);
  assert.strictEqual(nnPreprocess.invertIfLight(light, 28, 28), true);
  assert.ok(similarity(light, floats(digits[0].pixels)) > 0.999);
  const dark = floats(digits[0].pixels);
  assert.strictEqual(nnPreprocess.invertIfLight(dark, 28, 28), false);
});

test('grey levels of RGBA pixels are their luminance, transparent as black', () => {
  const rgba = Uint8ClampedArray.from([255, 255, 255, 255, 255, 0, 0, 255, 255, 255, 255, 0]);
  const gray = nnPreprocess.grayOfRgba(rgba, 3);
  assert.ok(Math.abs(gray[0] - 1) < 1e-6);
  assert.ok(Math.abs(gray[1] - 0.299) < 1e-6);
  assert.strictEqual(gray[2], 0);
});

test('fitStrokes gives the same strokes and pen whatever size a digit is drawn at', () => {
  const { fitStrokes, BOX, PEN, FIELD } = nnPreprocess;
  // A "7": a bar and a diagonal, drawn small and large at two places.
  const seven = (k, ox, oy) => [[{ x: ox, y: oy }, { x: ox + 10 * k, y: oy }],
                                [{ x: ox + 10 * k, y: oy }, { x: ox + 4 * k, y: oy + 16 * k }]];
  const small = fitStrokes(seven(2, 30, 40), 10), large = fitStrokes(seven(15, 5, 2), 10);
  assert.strictEqual(small.width, PEN * 10);
  for (let s = 0; s < 2; ++s) {
    for (let p = 0; p < 2; ++p) {
      assert.ok(Math.abs(small.strokes[s][p].x - large.strokes[s][p].x) < 1e-9);
      assert.ok(Math.abs(small.strokes[s][p].y - large.strokes[s][p].y) < 1e-9);
    }
  }
  // The ink's longer side (points' box plus a pen) is BOX field pixels,
  // centred in the field.
  const ys = large.strokes.flat().map((p) => p.y);
  assert.ok(Math.abs((Math.max(...ys) - Math.min(...ys)) + large.width - BOX * 10) < 1e-9);
  assert.ok(Math.abs((Math.max(...ys) + Math.min(...ys)) / 2 - FIELD * 10 / 2) < 1e-9);
  assert.strictEqual(fitStrokes([], 10), null);
  const dot = fitStrokes([[{ x: 3, y: 4 }]], 10);
  assert.deepStrictEqual(dot.strokes, [[{ x: 140, y: 140 }]]);
});
