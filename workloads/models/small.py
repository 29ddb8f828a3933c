"""Small convolutional networks: MNIST-1D, 8x8 digits, and the simple CNN for Fashion-MNIST."""

from __future__ import annotations

import torch
from torch import nn


class Mnist1dCnn(nn.Module):
    """The MNIST-1D paper's 1-D CNN: three stride-2 convolutions (kernel 5, 25 channels, ReLU)
    over the 40-sample signal (40 -> 20 -> 10 -> 5), then a linear classifier. 7,710 parameters."""

    def __init__(self, length: int = 40, channels: int = 25, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.ReLU(),
        )
        out = length
        for _ in range(3):
            out = (out + 2 * 2 - 5) // 2 + 1
        self.classifier = nn.Linear(channels * out, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x.unsqueeze(1)).flatten(1))


class DigitsCnn(nn.Module):
    """For 8x8 digits: conv 3x3 16 -> conv 3x3 32 -> max-pool 2 -> linear 512-64-10 (ReLU)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
            nn.Linear(64, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SimpleCnn(nn.Module):
    """The "simple CNN" of Shallue et al. (2018) used by Choi et al. for Fashion-MNIST (the
    TensorFlow MNIST tutorial network): conv 5x5 32 -> max-pool 2 -> conv 5x5 64 -> max-pool 2
    -> fully connected 1024 -> 10, ReLU, "same" padding. About 3.27M parameters on 28x28."""

    def __init__(self, in_channels: int = 1, size: int = 28, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * side * side, 1024), nn.ReLU(), nn.Linear(1024, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
