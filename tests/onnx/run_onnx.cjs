// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU, one
// intra-op thread) on float32 input and writes its first output, for the
// export tests (onnx_export_test.cc).
//   node run_onnx.cjs NODE_MODULES MODEL.onnx INPUT.f32 DIMS OUTPUT.f32
// INPUT.f32 holds little-endian floats fed as the model's input of shape
// DIMS (comma-separated, e.g. 64,28,28 or 64,28,28,1);
// OUTPUT.f32 gets the output's floats, row-major. Exit 0 on success; on any
// error the message goes to stderr and the exit code is 1.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [modules, model, input, shape, output] = process.argv.slice(2);
  if (!output) throw new Error('usage: run_onnx.cjs NODE_MODULES MODEL INPUT DIMS OUTPUT');
  const ort = require(path.join(modules, 'onnxruntime-node'));
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  const bytes = fs.readFileSync(input);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const dims = shape.split(',').map(Number);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error('input size mismatch');
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, dims)};
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]].data;
  fs.writeFileSync(output, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
}

main().catch((e) => {
  process.stderr.write(`run_onnx: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
