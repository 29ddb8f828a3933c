"""The paper's models, written in plain torch: sizes and output shapes."""

from __future__ import annotations

import pytest
import torch

from workloads import models


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("make", "shape", "out", "params"),
    [
        (lambda: models.Mnist1dCnn(), (2, 40), (2, 10), 7_710),
        (lambda: models.DigitsCnn(), (2, 1, 8, 8), (2, 10), None),
        (lambda: models.SimpleCnn(), (2, 1, 28, 28), (2, 10), 3_274_634),
        (lambda: models.resnet32(10), (2, 3, 32, 32), (2, 10), 464_154),
        (lambda: models.Vgg16(10), (2, 3, 32, 32), (2, 10), None),
        (lambda: models.AllCnnC(100), (2, 3, 32, 32), (2, 100), 1_387_108),
        (lambda: models.ResNet50(1000), (1, 3, 64, 64), (1, 1000), 25_557_032),
        (lambda: models.CharLstm(83, 128, 128, 2), (2, 7), (2, 7, 83), None),
        (lambda: models.TransformerLm(300, max_len=16), (2, 9), (2, 9, 300), None),
    ],
)
def test_model_shapes_and_sizes(make, shape, out, params):
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randint(0, 83, shape) if len(shape) == 2 and out[-1] in (83, 300) else torch.randn(shape)
    with torch.no_grad():
        assert model(x).shape == out
    if params is not None:
        assert n_params(model) == params


def test_vgg16_has_13_conv_layers_and_about_15m_params():
    model = models.Vgg16(10)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == 13
    assert 14e6 < n_params(model) < 16e6


def test_resnet32_depth():
    model = models.resnet32()
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert convs + 1 == 32  # 31 conv layers + the classifier


def test_transformer_is_causal():
    torch.manual_seed(0)
    model = models.TransformerLm(50, max_len=8, d_model=32, layers=2, heads=4, d_ff=64).eval()
    x = torch.randint(0, 50, (1, 8))
    y = x.clone()
    y[0, 5:] = (y[0, 5:] + 1) % 50
    with torch.no_grad():
        assert torch.allclose(model(x)[0, :5], model(y)[0, :5], atol=1e-5)
