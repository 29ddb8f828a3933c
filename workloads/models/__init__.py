"""Models of the workloads, in plain torch (torchvision is not a dependency)."""

from .allcnn import AllCnnC
from .char_lstm import CharLstm
from .resnet_cifar import CifarResNet, resnet32
from .resnet_imagenet import ResNet50
from .small import DigitsCnn, Mnist1dCnn, SimpleCnn
from .transformer import TransformerLm
from .vgg import Vgg16

__all__ = [
    "AllCnnC",
    "CharLstm",
    "CifarResNet",
    "DigitsCnn",
    "Mnist1dCnn",
    "ResNet50",
    "SimpleCnn",
    "TransformerLm",
    "Vgg16",
    "resnet32",
]
