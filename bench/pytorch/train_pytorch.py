#!/usr/bin/python3
"""Trains an nnserve model spec with PyTorch, as nntrain does, for comparison.

    /usr/bin/python3 bench/pytorch/train_pytorch.py \
        --spec=models/mnist_cnn.textproto --data=data/mnist \
        [--epochs=5 --batch_size=32 --learning_rate=0.001 --threads=2 \
         --seed=1 --subset=N --json]

The same recipe as nntrain (engine/training/trainer.h): the architecture is
read from the same ModelSpec text file (layers, activations, regularisers),
weights start as Keras initialises them (Glorot uniform kernels, orthogonal
recurrent kernels, zero biases; the RNN's second PyTorch bias is held at zero,
as Keras has one), Adam with Keras' constants (beta 0.9/0.999, eps 1e-7),
sparse categorical cross-entropy (+ l1 * sum|w| + l2 * sum w^2 per
regularised kernel), shuffled mini-batches, BatchNormalization with Keras'
momentum 0.99 and epsilon 0.001, Flatten in Keras' channels-last order.
Pixels are byte / 255 as float32.

Prints, per epoch, the training loss and accuracy and the wall time of the
training pass (batches only, like nntrain's EpochRecord.seconds), then the
test-set loss and accuracy; with --json, one JSON object per line. Needs
Debian's python3-torch (+ libopenblas0-openmp for an optimised BLAS),
python3-numpy, python3-protobuf and protoc: scripts/install-bench-deps.sh.
Use Debian's /usr/bin/python3 (a pyenv python cannot see these packages).
"""

import argparse
import atexit
import gzip
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_model_pb2():
    """Generates model_pb2 from proto/ with protoc and imports it."""
    out = tempfile.mkdtemp(prefix="nnserve_pb2_")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    subprocess.run(
        ["protoc", "-I", os.path.join(ROOT, "proto"), "--python_out=" + out,
         os.path.join(ROOT, "proto", "nnserve", "v1", "model.proto")],
        check=True)
    sys.path.insert(0, out)
    from nnserve.v1 import model_pb2  # pylint: disable=import-outside-toplevel
    return model_pb2


def read_idx(path):
    """An IDX file (plain or .gz) as a numpy array."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_set(directory, prefix):
    images = read_idx(os.path.join(directory, prefix + "-images-idx3-ubyte"))
    labels = read_idx(os.path.join(directory, prefix + "-labels-idx1-ubyte"))
    return (torch.from_numpy(images.astype(np.float32) / np.float32(255)),
            torch.from_numpy(labels.astype(np.int64)))


def spread(images, labels, count):
    """`count` samples spread evenly (the digit files are sorted by class)."""
    if count <= 0 or count >= len(labels):
        return images, labels
    index = torch.tensor([i * len(labels) // count for i in range(count)])
    return images[index], labels[index]


def same_pads(size, kernel, stride):
    """Keras' 'same' padding: (before, after), the extra one after."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def window_out(size, kernel, stride, same):
    return (size + stride - 1) // stride if same else (size - kernel) // stride + 1


ACTIVATIONS = {0: None, 1: None, 2: torch.relu, 3: torch.sigmoid,
               4: torch.tanh, 5: None}  # softmax: part of the loss


class SpecModel(nn.Module):
    """A ModelSpec as a PyTorch module producing logits."""

    def __init__(self, spec, pb2):
        super().__init__()
        height = spec.input.height or 28
        width = spec.input.width or 28
        shape = (height, width)  # Keras per-sample shape, channels last
        self.steps = []
        self.mods = nn.ModuleList()
        self.regularized = []  # (parameter, l1, l2)
        for layer in spec.layers:
            kind = layer.WhichOneof("kind")
            if kind == "dense":
                d = layer.dense
                lin = nn.Linear(shape[0], d.units)
                nn.init.xavier_uniform_(lin.weight)
                nn.init.zeros_(lin.bias)
                self._add(lin, ACTIVATIONS[d.activation])
                self._regularize(lin.weight, d.kernel_regularizer)
                shape = (d.units,)
            elif kind == "conv2d":
                c = layer.conv2d
                channels = shape[2] if len(shape) == 3 else 1
                sh, sw = c.stride_height or 1, c.stride_width or 1
                same = c.padding == pb2.PADDING_SAME
                conv = nn.Conv2d(channels, c.filters,
                                 (c.kernel_height, c.kernel_width), (sh, sw))
                nn.init.xavier_uniform_(conv.weight)
                nn.init.zeros_(conv.bias)
                pads = None
                if same:
                    ph = same_pads(shape[0], c.kernel_height, sh)
                    pw = same_pads(shape[1], c.kernel_width, sw)
                    pads = (pw[0], pw[1], ph[0], ph[1])
                act = ACTIVATIONS[c.activation]
                to_nchw = len(shape) == 2
                self.mods.append(conv)

                def step(x, conv=conv, pads=pads, act=act, to_nchw=to_nchw):
                    if to_nchw:
                        x = x.unsqueeze(1)
                    if pads:
                        x = F.pad(x, pads)
                    x = conv(x)
                    return act(x) if act else x
                self.steps.append(step)
                self._regularize(conv.weight, c.kernel_regularizer)
                shape = (window_out(shape[0], c.kernel_height, sh, same),
                         window_out(shape[1], c.kernel_width, sw, same),
                         c.filters)
            elif kind == "max_pooling2d":
                p = layer.max_pooling2d
                sh = p.stride_height or p.pool_height
                sw = p.stride_width or p.pool_width
                same = p.padding == pb2.PADDING_SAME
                pads = None
                if same:
                    ph = same_pads(shape[0], p.pool_height, sh)
                    pw = same_pads(shape[1], p.pool_width, sw)
                    pads = (pw[0], pw[1], ph[0], ph[1])
                to_nchw = len(shape) == 2
                kernel = (p.pool_height, p.pool_width)

                def step(x, kernel=kernel, stride=(sh, sw), pads=pads,
                         to_nchw=to_nchw):
                    if to_nchw:
                        x = x.unsqueeze(1)
                    if pads:
                        x = F.pad(x, pads, value=-math.inf)
                    return F.max_pool2d(x, kernel, stride)
                self.steps.append(step)
                shape = (window_out(shape[0], p.pool_height, sh, same),
                         window_out(shape[1], p.pool_width, sw, same),
                         shape[2] if len(shape) == 3 else 1)
            elif kind == "flatten":
                image = len(shape) == 3

                def step(x, image=image):
                    if image:  # NCHW -> NHWC: Keras' channels-last order
                        x = x.permute(0, 2, 3, 1)
                    return x.reshape(x.shape[0], -1)
                self.steps.append(step)
                shape = (int(np.prod(shape)),)
            elif kind == "simple_rnn":
                r = layer.simple_rnn
                rnn = nn.RNN(shape[1], r.units, nonlinearity="tanh",
                             batch_first=True)
                nn.init.xavier_uniform_(rnn.weight_ih_l0)
                nn.init.orthogonal_(rnn.weight_hh_l0)
                nn.init.zeros_(rnn.bias_ih_l0)
                nn.init.zeros_(rnn.bias_hh_l0)
                rnn.bias_hh_l0.requires_grad_(False)  # Keras has one bias
                self.mods.append(rnn)
                sequences = r.return_sequences

                def step(x, rnn=rnn, sequences=sequences):
                    out, last = rnn(x)
                    return out if sequences else last[0]
                self.steps.append(step)
                self._regularize(rnn.weight_ih_l0, r.kernel_regularizer)
                self._regularize(rnn.weight_hh_l0, r.recurrent_regularizer)
                shape = (shape[0], r.units) if sequences else (r.units,)
            elif kind == "dropout":
                drop = nn.Dropout(layer.dropout.rate)
                self._add(drop, None)
            elif kind == "batch_normalization":
                b = layer.batch_normalization
                momentum = 1 - (b.momentum or 0.99)
                eps = b.epsilon or 0.001
                if len(shape) == 3:
                    bn = nn.BatchNorm2d(shape[2], eps=eps, momentum=momentum)
                    self._add(bn, None)
                elif len(shape) == 2:  # {T, F}: normalise F
                    bn = nn.BatchNorm1d(shape[1], eps=eps, momentum=momentum)
                    self.mods.append(bn)
                    self.steps.append(
                        lambda x, bn=bn: bn(x.transpose(1, 2)).transpose(1, 2))
                else:
                    bn = nn.BatchNorm1d(shape[0], eps=eps, momentum=momentum)
                    self._add(bn, None)
            elif kind == "activation":
                act = ACTIVATIONS[layer.activation.activation]
                if act:
                    self.steps.append(act)
            else:
                raise ValueError("unsupported layer " + str(kind))

    def _add(self, module, act):
        self.mods.append(module)
        if act:
            self.steps.append(lambda x, m=module, a=act: a(m(x)))
        else:
            self.steps.append(module)

    def _regularize(self, parameter, regularizer):
        if regularizer.l1 or regularizer.l2:
            self.regularized.append((parameter, regularizer.l1, regularizer.l2))

    def penalty(self):
        total = 0.0
        for parameter, l1, l2 in self.regularized:
            if l1:
                total = total + l1 * parameter.abs().sum()
            if l2:
                total = total + l2 * parameter.pow(2).sum()
        return total

    def forward(self, x):
        for step in self.steps:
            x = step(x)
        return x


def blas_in_use():
    """The BLAS library torch has loaded (reference or OpenBLAS)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            names = {line.split()[-1] for line in maps
                     if "blas" in line.lower() and "/" in line}
        return ", ".join(sorted(os.path.realpath(n) for n in names)) or "none"
    except OSError:
        return "unknown"


def evaluate(model, images, labels, batch=1000):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for begin in range(0, len(labels), batch):
            x, y = images[begin:begin + batch], labels[begin:begin + batch]
            logits = model(x)
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
        loss = loss / len(labels) + float(model.penalty())
    model.train()
    return loss, correct / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--subset", type=int, default=0,
                        help="train on N images spread over the set (checks)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    pb2 = load_model_pb2()
    from google.protobuf import text_format  # pylint: disable=import-outside-toplevel
    with open(args.spec, encoding="utf-8") as f:
        spec = text_format.Parse(f.read(), pb2.ModelSpec())
    train_x, train_y = spread(*load_set(args.data, "train"), args.subset)
    test_x, test_y = load_set(args.data, "t10k")
    model = SpecModel(spec, pb2)
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad],
        lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-7)
    generator = torch.Generator().manual_seed(args.seed)
    info = {"spec": spec.name, "data": args.data, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "blas": blas_in_use(),
            "train_examples": len(train_y)}
    print(json.dumps(info) if args.json else
          "pytorch {torch}, {threads} threads, BLAS {blas}".format(**info))

    epoch_seconds = []
    n = len(train_y)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n, generator=generator)
        loss_sum, correct = 0.0, 0
        start = time.perf_counter()
        for begin in range(0, n, args.batch_size):
            index = order[begin:begin + args.batch_size]
            x, y = train_x[index], train_y[index]
            logits = model(x)
            loss = F.cross_entropy(logits, y) + model.penalty()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        seconds = time.perf_counter() - start
        epoch_seconds.append(seconds)
        record = {"epoch": epoch, "epochs": args.epochs, "loss": loss_sum / n,
                  "accuracy": correct / n, "seconds": seconds,
                  "images_per_second": n / seconds}
        print(json.dumps(record) if args.json else
              "epoch {epoch}/{epochs}: loss {loss:.4f} accuracy {accuracy:.4f} "
              "({seconds:.2f} s, {images_per_second:.0f} images/s)".format(**record))
    test_loss, test_accuracy = evaluate(model, test_x, test_y)
    steady = epoch_seconds[1:] or epoch_seconds
    done = {"done": True, "test_loss": test_loss, "test_accuracy": test_accuracy,
            "epoch_seconds": epoch_seconds,
            "mean_epoch_seconds_after_first": sum(steady) / len(steady)}
    print(json.dumps(done) if args.json else
          "test_loss {test_loss:.4f} test_accuracy {test_accuracy:.4f}; "
          "{mean_epoch_seconds_after_first:.3f} s per epoch after the first"
          .format(**done))


if __name__ == "__main__":
    main()
