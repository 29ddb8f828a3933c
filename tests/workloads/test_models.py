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
        (lambda: models.Vgg16(10), (2, 3, 32, 32), (2, 10), 14_991_946),
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


def test_vgg16_is_cifar_torch_vgg_bn_drop():
    """Layer for layer as szagoruyko/cifar.torch models/vgg_bn_drop.lua (Wilson et al. 2017's model)."""
    model = models.Vgg16(10)
    layers = list(model.features)
    convs = [m for m in layers if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is not None for c in convs)
    assert all(torch.count_nonzero(c.bias) == 0 for c in convs)
    # Each conv -> BN(eps 1e-3) -> ReLU; then dropout (0.3 in block 1, 0.4 later) except after the
    # last conv of a block, which is followed by a 2x2 max-pool.
    kinds = []
    for m in layers:
        if isinstance(m, torch.nn.BatchNorm2d):
            assert m.eps == 1e-3
        if isinstance(m, torch.nn.Conv2d):
            kinds.append("C")
        elif isinstance(m, torch.nn.Dropout):
            kinds.append(f"D{m.p}")
        elif isinstance(m, torch.nn.MaxPool2d):
            kinds.append("M")
    assert " ".join(kinds) == (
        "C D0.3 C M  C D0.4 C M  C D0.4 C D0.4 C M  C D0.4 C D0.4 C M  C D0.4 C D0.4 C M".replace("  ", " ")
    )
    c = list(model.classifier)
    assert [type(m).__name__ for m in c] == ["Dropout", "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert c[0].p == c[4].p == 0.5
    assert (c[1].in_features, c[1].out_features, c[5].in_features, c[5].out_features) == (512, 512, 512, 10)
    assert n_params(model) == 14_991_946


def test_lm1b_transformer_size_at_the_default_vocabulary():
    # 32,768 x 512 tied embedding + 256 x 512 positions + 6 blocks of 3.15M + final layer norm.
    model = models.TransformerLm(32_768, max_len=256)
    assert n_params(model) == 35_823_616
    assert n_params(model.tok) == 32_768 * 512


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
