"""The assignment's models: fully connected networks and a small convolutional network."""

from .cnn import ThreeLayerConvNet
from .fc_net import FullyConnectedNet, TwoLayerNet

__all__ = ["TwoLayerNet", "FullyConnectedNet", "ThreeLayerConvNet"]
