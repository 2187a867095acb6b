#!/usr/bin/python3
"""Makes the ONNX test models of issue 18 from the real digits (data/mnist).

    /usr/bin/python3 scripts/make-onnx-models.py OUT_DIR

Run from anywhere; reads data/mnist beside this script's directory. Writes,
into OUT_DIR (the build tree: <build>/onnx-models, made by the CTest fixture
onnx_models and by scripts/test.sh's set-up):

  PyTorch 1.13 exports (torch.onnx.export, dynamic batch axis "N"), each the
  tutorial's network trained briefly (Adam, 2 epochs, seed 1) on the 8,000
  training digits:
    mnist_mlp.onnx        input [N,28,28]: Flatten, Gemm, Relu, Gemm, Softmax
    mnist_mlp_opset11.onnx, mnist_mlp_opset17.onnx   the same, other opsets
    mnist_cnn.onnx        input [N,28,28]: Unsqueeze, Conv, Relu, MaxPool, ...,
                          Flatten (channels first), Gemm, Softmax
    mnist_rnn.onnx        input [N,28,28]: two RNN layers with the zero
                          initial-state subgraph; outputs logits (no softmax)
  Keras-style graphs (onnx.helper), weights taken from the trained networks:
    keras_mlp_flat.onnx   input [N,784], MatMul + Add per Dense, opset 11
    keras_cnn_nhwc.onnx   input [N,28,28,1] + Transpose, Reshape flatten in
                          channels-last order, opset 17
    keras_bn_mlp.onnx     input [N,1,28,28]: Reshape, MatMul+Add,
                          BatchNormalization, Tanh, Dropout, MatMul+Add,
                          Sigmoid, MatMul+Add, LogSoftmax (a PyTorch network
                          with those layers, trained briefly), opset 13
  Graphs nnserve must refuse (refused_*.onnx; tests/onnx list the messages).

  For every accepted model M: M.probs.f32, the reference probabilities on all
  10,000 digits (the 2,000 test images first, then the 8,000 training
  images), float32 little-endian, row-major [10000, 10]: PyTorch's outputs
  (softmax applied to logits and log-probabilities in float32, as PyTorch
  computes torch.softmax). models.json lists each model with its accuracy on
  the test images, its output kind and its opset.

Deterministic for a given torch build (seed 1, one thread). A stamp (the
SHA-256 of this script, mnist_torch_networks.py and the digit files) makes a
second run a no-op.
Needs Debian's python3-torch, python3-onnx, python3-numpy
(scripts/install-deps.sh); use /usr/bin/python3.
"""

import gzip
import hashlib
import json
import os
import struct
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data", "mnist")
NETWORKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist_torch_networks.py")
FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def read_idx(path):
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    import numpy as np  # pylint: disable=import-outside-toplevel
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def stamp():
    h = hashlib.sha256()
    for source in (os.path.abspath(__file__), NETWORKS):
        with open(source, "rb") as f:
            h.update(f.read())
    for name in FILES:
        path = os.path.join(DATA, name)
        if not os.path.exists(path):
            path += ".gz"
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-onnx-models.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    want = stamp()
    stamp_path = os.path.join(out, ".stamp")
    if os.path.exists(stamp_path) and open(stamp_path).read() == want:
        return
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    warnings.filterwarnings("ignore")
    import numpy as np
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper
    from torch import nn
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    from mnist_torch_networks import Cnn, Mlp, Rnn  # beside this script

    torch.manual_seed(1)
    torch.set_num_threads(1)
    f32 = np.float32
    train_x = torch.from_numpy(read_idx(os.path.join(DATA, FILES[0])).astype(f32) / f32(255))
    train_y = torch.from_numpy(read_idx(os.path.join(DATA, FILES[1])).astype(np.int64))
    test_x = torch.from_numpy(read_idx(os.path.join(DATA, FILES[2])).astype(f32) / f32(255))
    test_y = torch.from_numpy(read_idx(os.path.join(DATA, FILES[3])).astype(np.int64))
    all_x = torch.cat([test_x, train_x])  # the order of the .probs.f32 rows

    class BnMlp(nn.Module):  # log-probabilities out
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 64)
            self.bn = nn.BatchNorm1d(64, eps=1e-3, momentum=0.01)
            self.drop = nn.Dropout(0.25)
            self.fc2 = nn.Linear(64, 32)
            self.fc3 = nn.Linear(32, 10)

        def forward(self, x):
            x = self.drop(torch.tanh(self.bn(self.fc1(torch.flatten(x, 1)))))
            return torch.log_softmax(self.fc3(torch.sigmoid(self.fc2(x))), 1)

    def train(model, kind):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(1)
        model.train()
        for _ in range(2):
            order = torch.randperm(len(train_y), generator=gen)
            for i in range(0, len(order), 32):
                idx = order[i:i + 32]
                out = model(train_x[idx])
                if kind == "probabilities":
                    loss = nn.functional.nll_loss(torch.log(out + 1e-12), train_y[idx])
                elif kind == "log_probabilities":
                    loss = nn.functional.nll_loss(out, train_y[idx])
                else:
                    loss = nn.functional.cross_entropy(out, train_y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        return model

    def probabilities(model, kind):
        with torch.no_grad():
            out = model(all_x)
        if kind == "logits":
            out = torch.softmax(out, 1)
        elif kind == "log_probabilities":
            out = torch.softmax(out, 1)  # = exp(log_softmax), normalised
        return out.numpy().astype("<f4")

    manifest = {}

    def record(name, probs, kind, opset):
        probs.tofile(os.path.join(out, name + ".probs.f32"))
        accuracy = float((probs[:len(test_y)].argmax(1) == test_y.numpy()).mean())
        manifest[name] = {"accuracy": accuracy, "output": kind, "opset": opset,
                          "images": int(probs.shape[0])}

    def export(model, name, opset):
        torch.onnx.export(model, torch.zeros(1, 28, 28), os.path.join(out, name + ".onnx"),
                          opset_version=opset, input_names=["input"],
                          output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
        onnx.checker.check_model(onnx.load(os.path.join(out, name + ".onnx")))

    mlp = train(Mlp(), "probabilities")
    cnn = train(Cnn(), "probabilities")
    rnn = train(Rnn(), "logits")
    bn_mlp = train(BnMlp(), "log_probabilities")
    mlp_probs = probabilities(mlp, "probabilities")
    cnn_probs = probabilities(cnn, "probabilities")
    for opset in (13, 11, 17):
        name = "mnist_mlp" if opset == 13 else "mnist_mlp_opset%d" % opset
        export(mlp, name, opset)
        record(name, mlp_probs, "probabilities", opset)
    export(cnn, "mnist_cnn", 13)
    record("mnist_cnn", cnn_probs, "probabilities", 13)
    export(rnn, "mnist_rnn", 13)
    record("mnist_rnn", probabilities(rnn, "logits"), "logits", 13)

    # --- Keras-style graphs -------------------------------------------------
    def arr(t):
        return t.detach().numpy().astype(f32)

    def init(name, value, dtype=None):
        value = np.asarray(value, dtype=dtype)
        return numpy_helper.from_array(value, name)

    def save(graph, name, opset):
        model = helper.make_model(graph, producer_name="keras-style (onnx.helper)",
                                  opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 7
        onnx.checker.check_model(model)
        onnx.save(model, os.path.join(out, name + ".onnx"))

    def value(name, dims):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)

    # MLP on flat pixels, a Dense as MatMul + Add (kernel [in, out]).
    nodes = [helper.make_node("MatMul", ["input", "dense/kernel"], ["mm"], name="dense/MatMul"),
             helper.make_node("Add", ["mm", "dense/bias"], ["a"], name="dense/BiasAdd"),
             helper.make_node("Relu", ["a"], ["r"], name="dense/Relu"),
             helper.make_node("MatMul", ["r", "dense_1/kernel"], ["mm1"], name="dense_1/MatMul"),
             helper.make_node("Add", ["mm1", "dense_1/bias"], ["a1"], name="dense_1/BiasAdd"),
             helper.make_node("Softmax", ["a1"], ["probs"], name="dense_1/Softmax")]
    inits = [init("dense/kernel", arr(mlp.fc1.weight).T), init("dense/bias", arr(mlp.fc1.bias)),
             init("dense_1/kernel", arr(mlp.fc2.weight).T), init("dense_1/bias", arr(mlp.fc2.bias))]
    save(helper.make_graph(nodes, "keras_mlp_flat", [value("input", ["N", 784])],
                           [value("probs", ["N", 10])], inits), "keras_mlp_flat", 11)
    record("keras_mlp_flat", mlp_probs, "probabilities", 11)

    # CNN on channels-last input: Transpose to NCHW, Keras' channels-last
    # flatten (Transpose back + Reshape), the Dense rows permuted to match.
    fc1 = arr(cnn.fc1.weight)  # [64, 1600] over (c, h, w)
    fc1_hwc = fc1.reshape(64, 64, 5, 5).transpose(0, 2, 3, 1).reshape(64, 1600)
    nodes = [helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw"),
             helper.make_node("Conv", ["nchw", "conv2d/kernel", "conv2d/bias"], ["c1"],
                              kernel_shape=[3, 3], name="conv2d/Conv"),
             helper.make_node("Relu", ["c1"], ["r1"], name="conv2d/Relu"),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2],
                              name="max_pooling2d/MaxPool"),
             helper.make_node("Conv", ["p1", "conv2d_1/kernel", "conv2d_1/bias"], ["c2"],
                              kernel_shape=[3, 3], name="conv2d_1/Conv"),
             helper.make_node("Relu", ["c2"], ["r2"], name="conv2d_1/Relu"),
             helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2],
                              name="max_pooling2d_1/MaxPool"),
             helper.make_node("Transpose", ["p2"], ["nhwc"], perm=[0, 2, 3, 1], name="to_nhwc"),
             helper.make_node("Reshape", ["nhwc", "flatten/shape"], ["flat"], name="flatten/Reshape"),
             helper.make_node("MatMul", ["flat", "dense/kernel"], ["mm"], name="dense/MatMul"),
             helper.make_node("Add", ["mm", "dense/bias"], ["a"], name="dense/BiasAdd"),
             helper.make_node("Relu", ["a"], ["r"], name="dense/Relu"),
             helper.make_node("MatMul", ["r", "dense_1/kernel"], ["mm1"], name="dense_1/MatMul"),
             helper.make_node("Add", ["mm1", "dense_1/bias"], ["a1"], name="dense_1/BiasAdd"),
             helper.make_node("Softmax", ["a1"], ["probs"], axis=-1, name="dense_1/Softmax")]
    inits = [init("conv2d/kernel", arr(cnn.conv1.weight)), init("conv2d/bias", arr(cnn.conv1.bias)),
             init("conv2d_1/kernel", arr(cnn.conv2.weight)),
             init("conv2d_1/bias", arr(cnn.conv2.bias)),
             init("flatten/shape", [-1, 1600], np.int64),
             init("dense/kernel", fc1_hwc.T), init("dense/bias", arr(cnn.fc1.bias)),
             init("dense_1/kernel", arr(cnn.fc2.weight).T), init("dense_1/bias", arr(cnn.fc2.bias))]
    save(helper.make_graph(nodes, "keras_cnn_nhwc", [value("input", ["N", 28, 28, 1])],
                           [value("probs", ["N", 10])], inits), "keras_cnn_nhwc", 17)
    record("keras_cnn_nhwc", cnn_probs, "probabilities", 17)

    # BatchNormalization, Tanh, Dropout, Sigmoid, LogSoftmax.
    nodes = [helper.make_node("Reshape", ["input", "flatten/shape"], ["flat"], name="flatten"),
             helper.make_node("MatMul", ["flat", "dense/kernel"], ["mm"], name="dense/MatMul"),
             helper.make_node("Add", ["mm", "dense/bias"], ["a"], name="dense/BiasAdd"),
             helper.make_node("BatchNormalization",
                              ["a", "bn/gamma", "bn/beta", "bn/mean", "bn/var"], ["bn"],
                              epsilon=1e-3, momentum=0.99, name="batch_normalization"),
             helper.make_node("Tanh", ["bn"], ["t"], name="tanh"),
             helper.make_node("Dropout", ["t", "dropout/ratio"], ["d"], name="dropout"),
             helper.make_node("MatMul", ["d", "dense_1/kernel"], ["mm1"], name="dense_1/MatMul"),
             helper.make_node("Add", ["mm1", "dense_1/bias"], ["a1"], name="dense_1/BiasAdd"),
             helper.make_node("Sigmoid", ["a1"], ["s"], name="sigmoid"),
             helper.make_node("MatMul", ["s", "dense_2/kernel"], ["mm2"], name="dense_2/MatMul"),
             helper.make_node("Add", ["mm2", "dense_2/bias"], ["a2"], name="dense_2/BiasAdd"),
             helper.make_node("LogSoftmax", ["a2"], ["logp"], axis=1, name="log_softmax")]
    inits = [init("flatten/shape", [0, -1], np.int64),
             init("dense/kernel", arr(bn_mlp.fc1.weight).T), init("dense/bias", arr(bn_mlp.fc1.bias)),
             init("bn/gamma", arr(bn_mlp.bn.weight)), init("bn/beta", arr(bn_mlp.bn.bias)),
             init("bn/mean", arr(bn_mlp.bn.running_mean)),
             init("bn/var", arr(bn_mlp.bn.running_var)),
             init("dropout/ratio", np.float32(0.25)),
             init("dense_1/kernel", arr(bn_mlp.fc2.weight).T),
             init("dense_1/bias", arr(bn_mlp.fc2.bias)),
             init("dense_2/kernel", arr(bn_mlp.fc3.weight).T),
             init("dense_2/bias", arr(bn_mlp.fc3.bias))]
    save(helper.make_graph(nodes, "keras_bn_mlp", [value("input", ["N", 1, 28, 28])],
                           [value("logp", ["N", 10])], inits), "keras_bn_mlp", 13)
    record("keras_bn_mlp", probabilities(bn_mlp, "log_probabilities"),
           "log_probabilities", 13)

    # --- Graphs nnserve refuses ---------------------------------------------
    def refused(name, nodes, inputs, outputs, inits, opset=13, check=True):
        model = helper.make_model(helper.make_graph(nodes, name, inputs, outputs, inits),
                                  producer_name="nnserve tests",
                                  opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 7
        if check:
            onnx.checker.check_model(model)
        with open(os.path.join(out, "refused_" + name + ".onnx"), "wb") as f:
            f.write(model.SerializeToString())

    dense = [init("k", arr(mlp.fc1.weight).T), init("b", arr(mlp.fc1.bias))]
    flat_in = [value("input", ["N", 784])]
    refused("einsum",
            [helper.make_node("Einsum", ["input", "k"], ["e"], equation="ni,ij->nj",
                              name="/attn/Einsum"),
             helper.make_node("Softmax", ["e"], ["p"], name="softmax")],
            flat_in, [value("p", ["N", 128])], dense[:1])
    refused("two_inputs",
            [helper.make_node("Add", ["input", "input2"], ["s"], name="add"),
             helper.make_node("Softmax", ["s"], ["p"], name="softmax")],
            flat_in + [value("input2", ["N", 784])], [value("p", ["N", 784])], [])
    refused("rgb_input",
            [helper.make_node("Flatten", ["input"], ["f"], name="flatten"),
             helper.make_node("Softmax", ["f"], ["p"], name="softmax")],
            [value("input", ["N", 3, 28, 28])], [value("p", ["N", 2352])], [])
    refused("gemm_shape_mismatch",
            [helper.make_node("Flatten", ["input"], ["f"], name="/Flatten"),
             helper.make_node("Gemm", ["f", "k"], ["g"], name="/fc/Gemm"),
             helper.make_node("Softmax", ["g"], ["p"], name="softmax")],
            [value("input", ["N", 28, 28])], [value("p", ["N", 128])],
            [init("k", arr(mlp.fc1.weight).T[:700])], check=False)
    refused("sigmoid_output",
            [helper.make_node("Gemm", ["input", "k", "b"], ["g"], name="/fc/Gemm"),
             helper.make_node("Sigmoid", ["g"], ["p"], name="/Sigmoid")],
            flat_in, [value("p", ["N", 128])], dense)
    refused("opset9",
            [helper.make_node("Gemm", ["input", "k", "b"], ["g"], name="/fc/Gemm"),
             helper.make_node("Softmax", ["g"], ["p"], name="softmax")],
            flat_in, [value("p", ["N", 128])], dense, opset=9)
    external = onnx.TensorProto()
    external.name = "k"
    external.data_type = TensorProto.FLOAT
    external.dims.extend([784, 128])
    external.data_location = TensorProto.EXTERNAL
    entry = external.external_data.add()
    entry.key, entry.value = "location", "weights.bin"
    refused("external_data",
            [helper.make_node("Gemm", ["input", "k"], ["g"], name="/fc/Gemm"),
             helper.make_node("Softmax", ["g"], ["p"], name="softmax")],
            flat_in, [value("p", ["N", 128])], [external], check=False)
    huge = onnx.TensorProto()  # claims 1 GiB of floats, holds 16 bytes
    huge.name = "k"
    huge.data_type = TensorProto.FLOAT
    huge.dims.extend([784, 342392])
    huge.raw_data = b"\0" * 16
    refused("huge_tensor",
            [helper.make_node("Gemm", ["input", "k"], ["g"], name="/fc/Gemm"),
             helper.make_node("Softmax", ["g"], ["p"], name="softmax")],
            flat_in, [value("p", ["N", 342392])], [huge], check=False)
    with open(os.path.join(out, "mnist_mlp.onnx"), "rb") as f:
        whole = f.read()
    with open(os.path.join(out, "refused_truncated.onnx"), "wb") as f:
        f.write(whole[:len(whole) // 2])

    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    with open(stamp_path, "w") as f:
        f.write(want)
    print("make-onnx-models: %d models in %s (%s)" % (
        len(manifest), out,
        ", ".join("%s %.4f" % (k, v["accuracy"]) for k, v in sorted(manifest.items()))))


if __name__ == "__main__":
    main()
