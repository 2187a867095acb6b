#!/usr/bin/python3
"""PyTorch's side of bench/peers.sh: a worker that answers one JSON request
per line on stdin with one JSON line on stdout (bench/peers/peers.py drives it).

    /usr/bin/python3 bench/peers/torch_peer.py MODELS_DIR WORK_DIR

The networks of scripts/make-onnx-models.py (scripts/mnist_torch_networks.py),
rebuilt in PyTorch with the weights read from MODELS_DIR/<model>.onnx (the
file the other two engines run; peers.py checks that all three agree before
it times anything). One intra-op and one inter-op thread. Each network in
three forms, "best of" for the benchmark:
  eager      the nn.Module in eval mode
  frozen     torch.jit.freeze(torch.jit.script(module))
  optimized  torch.jit.optimize_for_inference(torch.jit.script(module))
and a float64 copy of the eager module, the reference of the check.

At start it writes WORK_DIR/images.f32 (the first 256 test digits of
data/mnist, byte / 255, float32, [256, 28, 28]) and the probes of ONNX
Runtime's per-call cost, opset 13, input [N,28,28] as the models':
WORK_DIR/identity.onnx (Identity, output [N,28,28]) and WORK_DIR/slice.onnx
(Slice of 10 pixels + Flatten, output [N,10] as the models'), then prints
{"ready": true, "torch": ..., "blas": ..., ...}.
Requests:
  {"op": "outputs", "model": M, "n": K}
      -> {"reference": [...], "eager": [...], "frozen": [...], "optimized": [...]}
         the network's raw outputs (as the ONNX file's output: probabilities,
         or logits for the RNN) on the first K images, row-major; reference
         in float64
  {"op": "time", "model": M, "variant": V, "batch": B, "seconds": S}
      -> {"calls": C, "seconds": T, "images_per_s": C * B / T}
         after an untimed warm-up (at least 3 calls and 0.1 S: TorchScript's
         profiling executor specialises a graph in its first calls)
  {"op": "quit"}
An error answers {"error": "..."}; the worker keeps going.
"""

import json
import os
import sys
import time
import warnings

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(_ROOT, "bench", "pytorch"), os.path.join(_ROOT, "scripts")]
# pylint: disable=wrong-import-position
from mnist_torch_networks import Cnn, Mlp, Rnn  # noqa: E402
from train_pytorch import ROOT, blas_in_use, read_idx  # noqa: E402

IMAGES = 256  # the largest batch of the benchmark
VARIANTS = ("eager", "frozen", "optimized")


NETWORKS = {"mnist_mlp": Mlp, "mnist_cnn": Cnn, "mnist_rnn": Rnn}


def onnx_weights(path):
    """The file's weights under PyTorch's state_dict names. Gemm and Conv
    initialisers keep PyTorch's names in its export; the RNN nodes' W, R, B
    (ONNX: [1, H, F], [1, H, H], [1, 2H] = Wb ++ Rb) become rnn.*_l<k>."""
    graph = onnx.load(path).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    weights = {name: a for name, a in arrays.items() if not name.startswith("onnx::")}
    for layer, node in enumerate(n for n in graph.node if n.op_type == "RNN"):
        w, r, b = (arrays[name] for name in node.input[1:4])
        units = w.shape[1]
        weights["rnn.weight_ih_l%d" % layer] = w[0]
        weights["rnn.weight_hh_l%d" % layer] = r[0]
        weights["rnn.bias_ih_l%d" % layer] = b[0, :units]
        weights["rnn.bias_hh_l%d" % layer] = b[0, units:]
    return weights


def load_network(models_dir, name):
    """NETWORKS[name] with the weights of MODELS_DIR/name.onnx; every
    parameter must come from the file, with its shape."""
    module = NETWORKS[name]()
    weights = onnx_weights(os.path.join(models_dir, name + ".onnx"))
    state = module.state_dict()
    if set(state) != set(weights):
        raise ValueError("%s.onnx: weights %s, PyTorch's network has %s" %
                         (name, sorted(weights), sorted(state)))
    for key, value in state.items():
        if tuple(value.shape) != weights[key].shape:
            raise ValueError("%s.onnx: %s is %s, PyTorch's network wants %s" %
                             (name, key, weights[key].shape, tuple(value.shape)))
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    return module.eval()


def forms(module):
    """The three forms timed, and the float64 reference."""
    import copy  # pylint: disable=import-outside-toplevel
    reference = copy.deepcopy(module).double().eval()
    return {"eager": module,
            "frozen": torch.jit.freeze(torch.jit.script(module)),
            "optimized": torch.jit.optimize_for_inference(torch.jit.script(module)),
            "reference": reference}


def write_inputs(work):
    images = read_idx(os.path.join(ROOT, "data", "mnist", "t10k-images-idx3-ubyte"))[:IMAGES]
    if len(images) < IMAGES:
        raise ValueError("data/mnist has fewer than %d test images" % IMAGES)
    x = images.astype(np.float32) / np.float32(255)
    x.astype("<f4").tofile(os.path.join(work, "images.f32"))
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 28, 28])
    probes = {  # name: (nodes, initialisers, output dims)
        "identity": ([helper.make_node("Identity", ["input"], ["output"])], [], ["N", 28, 28]),
        "slice": ([helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["s"]),
                   helper.make_node("Flatten", ["s"], ["output"], axis=1)],
                  [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in
                   (("starts", [0, 0]), ("ends", [1, 10]), ("axes", [1, 2]))], ["N", 10])}
    for name, (nodes, inits, dims) in probes.items():
        probe = helper.make_model(
            helper.make_graph(nodes, name, [image],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)],
                              inits),
            producer_name="bench/peers", opset_imports=[helper.make_opsetid("", 13)])
        probe.ir_version = 7
        onnx.checker.check_model(probe)
        onnx.save(probe, os.path.join(work, name + ".onnx"))
    return torch.from_numpy(x)


def time_calls(function, x, seconds):
    """Calls function(x) for `seconds` after a warm-up; (calls, elapsed s)."""
    warm_until = time.perf_counter() + 0.1 * seconds
    for i in range(1 << 30):
        function(x)
        if i >= 2 and time.perf_counter() >= warm_until:
            break
    calls, start = 0, time.perf_counter()
    while True:
        function(x)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls, elapsed


def answer(request, networks, images):
    op = request.get("op")
    model = networks.get(request.get("model"))
    if model is None:
        raise ValueError("unknown model %r" % request.get("model"))
    if op == "outputs":
        n = int(request["n"])
        x = images[:n]
        out = {v: model[v](x).reshape(-1).tolist() for v in VARIANTS}
        out["reference"] = model["reference"](x.double()).reshape(-1).tolist()
        return out
    if op == "time":
        batch, seconds = int(request["batch"]), float(request["seconds"])
        if not 1 <= batch <= IMAGES or request.get("variant") not in VARIANTS:
            raise ValueError("batch 1..%d and variant %s" % (IMAGES, "/".join(VARIANTS)))
        calls, elapsed = time_calls(model[request["variant"]], images[:batch].clone(), seconds)
        return {"calls": calls, "seconds": elapsed, "images_per_s": calls * batch / elapsed}
    raise ValueError("unknown op %r" % op)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: torch_peer.py MODELS_DIR WORK_DIR")
    models_dir, work = sys.argv[1], sys.argv[2]
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.set_grad_enabled(False)
    images = write_inputs(work)
    networks = {name: forms(load_network(models_dir, name)) for name in NETWORKS}
    with torch.inference_mode():
        print(json.dumps({"ready": True, "torch": torch.__version__, "blas": blas_in_use(),
                          "threads": torch.get_num_threads(),
                          "mkldnn": torch.backends.mkldnn.is_available()}), flush=True)
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("op") == "quit":
                break
            try:
                reply = answer(request, networks, images)
            except (ValueError, KeyError, RuntimeError) as e:
                reply = {"error": str(e)}
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
