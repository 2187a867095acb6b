// Real MNIST test digits for the console's tests: `count` images spread
// evenly over data/mnist's test set (which is ordered by class, so they
// cover every class: image floor((i + 0.5) * n / count) for i < count) (IDX: magic 0x00000803, count, rows, cols, then
// one byte a pixel) with their labels (IDX 0x00000801).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

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

// CRC-32 (ISO 3309, as PNG uses) of `bytes`.
function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; ++k) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

// A grayscale 8-bit PNG of `pixels` (width x height bytes, row-major).
function grayPng(pixels, width, height) {
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;   // bit depth
  ihdr[9] = 0;   // colour type: grayscale
  const raw = Buffer.alloc((width + 1) * height);  // filter byte 0 a row
  for (let y = 0; y < height; ++y) {
    Buffer.from(pixels.subarray(y * width, (y + 1) * width)).copy(raw, y * (width + 1) + 1);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
                        chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)),
                        chunk('IEND', Buffer.alloc(0))]);
}

module.exports = { testDigits, grayPng };
