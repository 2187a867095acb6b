// MNIST's preprocessing, in the page (and in node for its test), so that a
// digit drawn on the console's canvas reaches the models in the form their
// training images had. MNIST's digits (LeCun, Cortes, Burges) were made so:
//   1. white ink on a black field (grey levels in [0, 1], 1 = ink);
//   2. the digit's bounding box scaled, keeping its aspect ratio, so that
//      its longer side is 20 pixels (anti-aliased: each output pixel is the
//      area-weighted mean of the input pixels it covers);
//   3. that 20x20 box placed in a 28x28 field so the centre of mass of its
//      grey levels lies at the field's centre, to the pixel: at pixel
//      (14, 14) counted from 0 (its centre is at 14.5, 14.5 from the
//      field's corner), as measured on MNIST's own test digits.
// toMnist() does exactly these steps on an image of any size; its input is
// already white on black (an uploaded image is inverted first when its
// background is light, see invertIfLight()).
//
// A drawing is not taken as the pixels of the pad: MNIST's pen had a
// width in proportion to the digit (its strokes are about 2 pixels wide
// in the 20x20 box: PEN; mean ink of a test digit over its stroke length),
// while a pen of fixed width on the pad
// makes a small digit fat and a large one thin once it is scaled. So the
// page keeps the strokes' points, and fitStrokes() places them so that,
// redrawn with a round pen PEN field pixels wide, the ink's box is BOX
// pixels on its longer side, whatever size they were drawn at; the page
// draws them so (anti-aliased) and toMnist() then centres them by mass.
(function (root) {
  'use strict';

  const FIELD = 28;       // output side, pixels
  const BOX = 20;         // the digit's longer side after scaling, pixels
  const INK = 0.1;        // a pixel counts for the bounding box above this
  const PEN = 2.0;        // a drawing's pen width, field pixels (see above)

  // The bounding box of the pixels above INK in `gray` (width x height,
  // row-major, values in [0, 1]), or null when there is no ink.
  function inkBox(gray, width, height) {
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (let y = 0; y < height; ++y) {
      for (let x = 0; x < width; ++x) {
        if (gray[y * width + x] > INK) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
      }
    }
    if (x1 < 0) return null;
    return { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
  }

  // The region `box` of `gray` (row stride `width`) resampled to tw x th by
  // area averaging (a box filter with fractional overlaps: exact for both
  // shrinking and enlarging).
  function resample(gray, width, box, tw, th) {
    const out = new Float32Array(tw * th);
    const sx = box.w / tw, sy = box.h / th;  // input pixels per output pixel
    for (let ty = 0; ty < th; ++ty) {
      const fy0 = ty * sy, fy1 = fy0 + sy;
      for (let tx = 0; tx < tw; ++tx) {
        const fx0 = tx * sx, fx1 = fx0 + sx;
        let sum = 0;
        for (let iy = Math.floor(fy0); iy < Math.ceil(fy1) && iy < box.h; ++iy) {
          const wy = Math.min(fy1, iy + 1) - Math.max(fy0, iy);
          const row = (box.y + iy) * width + box.x;
          for (let ix = Math.floor(fx0); ix < Math.ceil(fx1) && ix < box.w; ++ix) {
            const wx = Math.min(fx1, ix + 1) - Math.max(fx0, ix);
            sum += wx * wy * gray[row + ix];
          }
        }
        out[ty * tw + tx] = Math.min(1, sum / (sx * sy));
      }
    }
    return out;
  }

  // `gray`: width x height grey levels in [0, 1], white ink on black.
  // Returns the 28x28 MNIST-form image (Float32Array(784), row-major, in
  // [0, 1]), or null when nothing is drawn.
  function toMnist(gray, width, height) {
    const box = inkBox(gray, width, height);
    if (box === null) return null;
    const scale = BOX / Math.max(box.w, box.h);
    const tw = Math.max(1, Math.min(BOX, Math.round(box.w * scale)));
    const th = Math.max(1, Math.min(BOX, Math.round(box.h * scale)));
    const digit = resample(gray, width, box, tw, th);
    let mass = 0, mx = 0, my = 0;
    for (let y = 0; y < th; ++y) {
      for (let x = 0; x < tw; ++x) {
        const v = digit[y * tw + x];
        mass += v;
        mx += v * x;
        my += v * y;
      }
    }
    // Offsets that move the centre of mass to pixel (14, 14).
    const ox = Math.round(FIELD / 2 - mx / mass);
    const oy = Math.round(FIELD / 2 - my / mass);
    const out = new Float32Array(FIELD * FIELD);
    for (let y = 0; y < th; ++y) {
      const fy = y + oy;
      if (fy < 0 || fy >= FIELD) continue;
      for (let x = 0; x < tw; ++x) {
        const fx = x + ox;
        if (fx < 0 || fx >= FIELD) continue;
        out[fy * FIELD + fx] = digit[y * tw + x];
      }
    }
    return out;
  }

  // `strokes`: arrays of points {x, y} (any unit, e.g. pad pixels).
  // Returns {strokes, width}: the same strokes in the pixels of a canvas
  // `scale` times the 28x28 field, placed so that drawn with a round pen of
  // `width` (= pen * scale) their ink's box is BOX * scale on its longer
  // side, centred; or null when there is no point. A single point (or
  // several at one place) is a dot of the pen's width.
  function fitStrokes(strokes, scale, pen) {
    pen = pen || PEN;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const stroke of strokes) {
      for (const p of stroke) {
        x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x);
        y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y);
      }
    }
    if (x1 < x0) return null;
    const longer = Math.max(x1 - x0, y1 - y0);
    // Points' box side (field pixels) so that the ink's, a pen wider, is BOX.
    const k = longer > 0 ? (BOX - pen) / longer * scale : 0;
    const cx = FIELD * scale / 2, cy = FIELD * scale / 2;
    const mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
    return {
      strokes: strokes.map((stroke) => stroke.map((p) => ({ x: cx + (p.x - mx) * k,
                                                          y: cy + (p.y - my) * k }))),
      width: pen * scale,
    };
  }

  // Grey levels of RGBA pixels (ImageData.data): luminance in [0, 1],
  // transparent pixels as black.
  function grayOfRgba(rgba, count) {
    const gray = new Float32Array(count);
    for (let i = 0; i < count; ++i) {
      const a = rgba[4 * i + 3] / 255;
      const l = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] +
                 0.114 * rgba[4 * i + 2]) / 255;
      gray[i] = l * a;
    }
    return gray;
  }

  // Inverts `gray` in place when its border is mostly light (a dark digit on
  // white paper), so the ink is white on black as MNIST's is.
  function invertIfLight(gray, width, height) {
    let sum = 0, n = 0;
    for (let x = 0; x < width; ++x) {
      sum += gray[x] + gray[(height - 1) * width + x];
      n += 2;
    }
    for (let y = 0; y < height; ++y) {
      sum += gray[y * width] + gray[y * width + width - 1];
      n += 2;
    }
    if (sum / n <= 0.5) return false;
    for (let i = 0; i < gray.length; ++i) gray[i] = 1 - gray[i];
    return true;
  }

  root.nnPreprocess = { toMnist, fitStrokes, grayOfRgba, invertIfLight, FIELD, BOX, PEN };
})(typeof module !== 'undefined' ? module.exports : window);
