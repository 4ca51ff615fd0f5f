"""Instructor-only: the solution regions sit where the student release expects them.

Left out of the student release (see .release-exclude): in the release the regions are gone.
"""

import inspect

import pytest

from cs231n import layers, normalization, optim
from cs231n.classifiers import cnn, fc_net

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

STUDENT_FUNCTIONS = {
    optim: ["sgd_momentum", "rmsprop", "adam"],
    layers: ["affine_forward", "affine_backward", "relu_forward", "relu_backward",
             "dropout_forward", "dropout_backward", "conv_forward_naive",
             "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive"],
    normalization: ["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
                    "layernorm_forward", "layernorm_backward", "spatial_batchnorm_forward",
                    "spatial_batchnorm_backward", "spatial_groupnorm_forward",
                    "spatial_groupnorm_backward"],
    fc_net: ["TwoLayerNet.__init__", "TwoLayerNet.loss", "FullyConnectedNet.__init__",
             "FullyConnectedNet.loss"],
    cnn: ["ThreeLayerConvNet.__init__", "ThreeLayerConvNet.loss"],
}


def _function(module, name):
    obj = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("module", list(STUDENT_FUNCTIONS), ids=lambda m: m.__name__)
def test_regions_are_paired(module):
    source = inspect.getsource(module)
    assert source.count(BEGIN) == source.count(END) > 0


@pytest.mark.parametrize("module,name", [(m, n) for m, names in STUDENT_FUNCTIONS.items() for n in names],
                         ids=lambda v: getattr(v, "__name__", v))
def test_student_function_holds_a_region(module, name):
    source = inspect.getsource(_function(module, name))
    assert BEGIN in source
    # every region carries a TODO hint just before it, which the release keeps
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == BEGIN:
            assert lines[i - 1].strip().startswith("#"), f"{name}: no hint comment before line {i}"


@pytest.mark.parametrize("module,name", [(m, n) for m, names in STUDENT_FUNCTIONS.items() for n in names
                                         if n.endswith(".loss") or n in ("dropout_forward", "batchnorm_forward")],
                         ids=lambda v: getattr(v, "__name__", v))
def test_functions_with_two_regions(module, name):
    """The original splits these in two: forward and backward (models), train and test (layers)."""
    assert inspect.getsource(_function(module, name)).count(BEGIN) == 2


@pytest.mark.parametrize("name", ["sgd", "svm_loss", "softmax_loss", "scheduled_rule"])
def test_given_code_has_no_region(name):
    function = getattr(optim, name, None) or getattr(layers, name)
    assert BEGIN not in inspect.getsource(function)


def test_no_private_helper_holds_a_region():
    for module in STUDENT_FUNCTIONS:
        for name, obj in vars(module).items():
            if name.startswith("_") and callable(obj) and getattr(obj, "__module__", None) == module.__name__:
                assert BEGIN not in inspect.getsource(obj), name
