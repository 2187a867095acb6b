// ONNX Runtime's side of bench/peers.sh: a worker that answers one JSON
// request per line on stdin with one JSON line on stdout
// (bench/peers/peers.py drives it).
//
//   node bench/peers/ort_peer.cjs NODE_MODULES MODELS_DIR WORK_DIR
//
// NODE_MODULES holds onnxruntime-node (tests/onnx/node-deps.sh installs it;
// bench/peers.sh uses build/onnx-node). Sessions as tests/onnx/run_onnx.cjs
// makes them: CPU, one intra-op and one inter-op thread, graph optimisation
// "all"; one per model, made on first use. Model M is MODELS_DIR/M.onnx;
// the probes "identity" and "slice" are WORK_DIR/<probe>.onnx (torch_peer.py
// writes them and WORK_DIR/images.f32, [256,28,28] floats): Identity
// [N,28,28] -> [N,28,28], and a Slice of 10 pixels -> [N,10], the models'
// output size. A probe's call time is the binding's per-call cost (tensor
// in, session.run's promise, tensor out) plus a copy of its output, which a
// model's call pays too.
// Prints {"ready": true, "ort": VERSION} first. Requests:
//   {"op": "outputs", "model": M, "n": K}
//       -> {"outputs": [...]}  the first output on the first K images
//   {"op": "time", "model": M, "batch": B, "seconds": S}
//       -> {"calls": C, "seconds": T, "images_per_s": C * B / T,
//           "us_per_call": T / C * 1e6}
//          after an untimed warm-up (at least 3 calls and 0.1 S); each call
//          is awaited before the next, one input tensor reused
//   {"op": "quit"}
// An error answers {"error": "..."}; the worker keeps going.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const IMAGE = 28 * 28;

async function main() {
  const [modules, modelsDir, work] = process.argv.slice(2);
  if (!work) throw new Error('usage: ort_peer.cjs NODE_MODULES MODELS_DIR WORK_DIR');
  const ort = require(path.resolve(modules, 'onnxruntime-node'));
  const version = require(path.resolve(modules, 'onnxruntime-node', 'package.json')).version;
  const bytes = fs.readFileSync(path.join(work, 'images.f32'));
  const images = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const maxBatch = images.length / IMAGE;
  const sessions = new Map();

  async function session(model) {
    if (typeof model !== 'string' || !/^[A-Za-z0-9_]+$/.test(model)) {
      throw new Error(`bad model name ${JSON.stringify(model)}`);
    }
    if (!sessions.has(model)) {
      const probe = model === 'identity' || model === 'slice';
      const file = path.join(probe ? work : modelsDir, `${model}.onnx`);
      sessions.set(model, await ort.InferenceSession.create(file, {
        intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all',
      }));
    }
    return sessions.get(model);
  }

  function feeds(s, batch) {
    if (!Number.isInteger(batch) || batch < 1 || batch > maxBatch) {
      throw new Error(`batch must be 1..${maxBatch}`);
    }
    const data = images.subarray(0, batch * IMAGE);
    return {[s.inputNames[0]]: new ort.Tensor('float32', data, [batch, 28, 28])};
  }

  async function answer(request) {
    const s = await session(request.model);
    if (request.op === 'outputs') {
      const results = await s.run(feeds(s, request.n));
      return {outputs: Array.from(results[s.outputNames[0]].data)};
    }
    if (request.op === 'time') {
      const input = feeds(s, request.batch);
      const seconds = Number(request.seconds);
      const warmUntil = process.hrtime.bigint() + BigInt(Math.round(0.1 * seconds * 1e9));
      for (let i = 0; i < 3 || process.hrtime.bigint() < warmUntil; ++i) await s.run(input);
      let calls = 0;
      let elapsed = 0;
      const start = process.hrtime.bigint();
      while (elapsed < seconds) {
        await s.run(input);
        ++calls;
        elapsed = Number(process.hrtime.bigint() - start) * 1e-9;
      }
      return {calls, seconds: elapsed, images_per_s: calls * request.batch / elapsed,
              us_per_call: elapsed / calls * 1e6};
    }
    throw new Error(`unknown op ${JSON.stringify(request.op)}`);
  }

  process.stdout.write(JSON.stringify({ready: true, ort: version}) + '\n');
  for await (const line of readline.createInterface({input: process.stdin})) {
    let reply;
    let request;
    try {
      request = JSON.parse(line);
      if (request.op === 'quit') break;
      reply = await answer(request);
    } catch (e) {
      reply = {error: e && e.message ? e.message : String(e)};
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
  for (const s of sessions.values()) await s.release();
}

main().catch((e) => {
  process.stderr.write(`ort_peer: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
