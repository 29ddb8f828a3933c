"""VGG-16 for 32x32 inputs with batch norm and dropout: the network of Wilson et al. (2017)'s
CIFAR-10 experiments, which is ``models/vgg_bn_drop.lua`` of Zagoruyko's cifar.torch
(https://github.com/szagoruyko/cifar.torch, "92.45% on CIFAR-10 in Torch", 2015)."""

from __future__ import annotations

import torch
from torch import nn

_BLOCKS: tuple[tuple[tuple[int, float], ...], ...] = (
    ((64, 0.3), (64, 0.0)),
    ((128, 0.4), (128, 0.0)),
    ((256, 0.4), (256, 0.4), (256, 0.0)),
    ((512, 0.4), (512, 0.4), (512, 0.0)),
    ((512, 0.4), (512, 0.4), (512, 0.0)),
)
"""Per block, per conv layer: (output channels, dropout after its ReLU; 0 for none). Each block
ends with a 2x2 max-pool."""

BN_EPS = 1e-3
"""Epsilon of the convolutional batch norms (cifar.torch's ``SpatialBatchNormalization(n, 1e-3)``)."""


class Vgg16(nn.Module):
    """cifar.torch's VGG-16 (``vgg_bn_drop.lua``), layer for layer.

    Features: 13 conv 3x3 layers (stride 1, padding 1, with bias), each followed by batch norm
    (eps 1e-3) and ReLU, in 5 blocks of 2, 2, 3, 3, 3 layers with 64, 128, 256, 512, 512
    channels; dropout after the ReLU of every conv layer except the last of each block (p 0.3
    in block 1, 0.4 in blocks 2-5); a 2x2 max-pool (ceil mode) ends each block, leaving a 512 x
    1 x 1 map on 32x32 inputs. Classifier: dropout 0.5 -> linear 512-512 -> batch norm (eps
    1e-5) -> ReLU -> dropout 0.5 -> linear 512-``classes``. 14,991,946 parameters for 10 classes.

    Initialisation as cifar.torch's ``MSRinit``: conv weights normal with std sqrt(2 / (3 * 3 *
    out_channels)) (He, fan-out), conv biases zero; linear layers keep torch's default, which is
    Torch7's (uniform within +-1/sqrt(fan_in) for weights and biases); batch norm weight 1, bias 0.

    Differences from the Lua model: the 512 x 1 x 1 map is averaged over its spatial positions
    instead of reshaped with ``View(512)`` (the same on 32x32 inputs, and it lets other sizes
    through); ``classifier_dropout`` replaces the two 0.5s when given.
    """

    def __init__(self, classes: int = 10, classifier_dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for block in _BLOCKS:
            for c_out, p in block:
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out, eps=BN_EPS), nn.ReLU()]
                if p:
                    layers.append(nn.Dropout(p))
                c_in = c_out
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(classifier_dropout),
            nn.Linear(512, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(),
            nn.Dropout(classifier_dropout),
            nn.Linear(512, classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                assert m.bias is not None  # every Conv2d here has a bias
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))
