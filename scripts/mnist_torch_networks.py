"""The tutorial's three networks in PyTorch, as scripts/make-onnx-models.py
trains and exports them (build/onnx-models/mnist_{mlp,cnn,rnn}.onnx) and
bench/peers/torch_peer.py rebuilds them with those files' weights. Input
[N,28,28] floats (pixels byte / 255); parameter names are the state_dict
names PyTorch's ONNX export keeps for Gemm and Conv initialisers.
Needs Debian's python3-torch (/usr/bin/python3).
"""

import torch
from torch import nn


class Mlp(nn.Module):
    """Flatten, Dense 128 relu, Dense 10 softmax: probabilities out."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return torch.softmax(self.fc2(torch.relu(self.fc1(torch.flatten(x, 1)))), 1)


class Cnn(nn.Module):
    """Conv 32 3x3 relu, max-pool 2, conv 64 3x3 relu, max-pool 2, flatten
    (channels first), Dense 64 relu, Dense 10 softmax: probabilities out."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(1600, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = x.unsqueeze(1)
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return torch.softmax(self.fc2(x), 1)


class Rnn(nn.Module):
    """Two tanh RNN layers of 64 over the 28 rows, Dense 10 on the last
    step: logits out (nnserve appends the softmax)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(28, 64, num_layers=2, batch_first=True)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1, :])
