"""VGG-16 for 32x32 inputs with batch norm (as in Wilson et al. 2017's CIFAR-10 experiments)."""

from __future__ import annotations

import torch
from torch import nn

_CFG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class Vgg16(nn.Module):
    """13 conv 3x3 layers (each conv -> BN -> ReLU) in 5 blocks with max-pooling, then
    dropout 0.5 -> linear 512-512 -> ReLU -> dropout 0.5 -> linear 512-classes. About 15M
    parameters on CIFAR-10."""

    def __init__(self, classes: int = 10, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for item in _CFG16:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c_in, int(item), 3, padding=1, bias=False), nn.BatchNorm2d(int(item)), nn.ReLU()]
                c_in = int(item)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(512, 512), nn.ReLU(), nn.Dropout(dropout), nn.Linear(512, classes)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Global average pooling makes the network size-agnostic; on 32x32 the map is 1x1.
        return self.classifier(self.features(x).mean(dim=(2, 3)))
