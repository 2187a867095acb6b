// Real MNIST test digits for the console's tests: `count` images spread
// evenly over data/mnist's test set (which is ordered by class, so they
// cover every class: image floor((i + 0.5) * n / count) for i < count) (IDX: magic 0x00000803, count, rows, cols, then
// one byte a pixel) with their labels (IDX 0x00000801).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function readIdx(file, magic) {
  const buffer = fs.readFileSync(file);
  if (buffer.readUInt32BE(0) !== magic) throw new Error(`${file}: not IDX ${magic}`);
  return buffer;
}

// [{pixels: Uint8Array(784), label}], from DATA_DIR/mnist.
function testDigits(dataDir, count) {
  const images = readIdx(path.join(dataDir, 'mnist', 't10k-images-idx3-ubyte'), 0x803);
  const labels = readIdx(path.join(dataDir, 'mnist', 't10k-labels-idx1-ubyte'), 0x801);
  const n = images.readUInt32BE(4), rows = images.readUInt32BE(8), cols = images.readUInt32BE(12);
  if (rows !== 28 || cols !== 28 || n < count) throw new Error('unexpected MNIST test set');
  const out = [];
  for (let k = 0; k < count; ++k) {
    const i = Math.floor((k + 0.5) * n / count);
    out.push({ index: i, pixels: new Uint8Array(images.subarray(16 + i * 784, 16 + (i + 1) * 784)),
               label: labels[8 + i] });
  }
  return out;
}

module.exports = { testDigits };
