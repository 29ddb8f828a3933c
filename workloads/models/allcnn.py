"""All-CNN-C (Springenberg et al. 2015), as in DeepOBS's ``cifar100_allcnnc`` problem."""

from __future__ import annotations

import torch
from torch import nn


class AllCnnC(nn.Module):
    """dropout 0.2 -> conv3x3 96 x2 -> conv3x3 96 stride 2 -> dropout 0.5 -> conv3x3 192 x2 ->
    conv3x3 192 stride 2 -> dropout 0.5 -> conv3x3 192 (valid) -> conv1x1 192 -> conv1x1 classes
    -> global average pool. ReLU after every conv but the last. About 1.4M parameters."""

    def __init__(self, classes: int = 100) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding), nn.ReLU()]

        self.net = nn.Sequential(
            nn.Dropout(0.2),
            *conv(3, 96, 3), *conv(96, 96, 3), *conv(96, 96, 3, stride=2),
            nn.Dropout(0.5),
            *conv(96, 192, 3), *conv(192, 192, 3), *conv(192, 192, 3, stride=2),
            nn.Dropout(0.5),
            *conv(192, 192, 3, padding=0), *conv(192, 192, 1, padding=0),
            nn.Conv2d(192, classes, 1),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)
                assert m.bias is not None  # every Conv2d here has a bias
                nn.init.constant_(m.bias, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean(dim=(2, 3))
