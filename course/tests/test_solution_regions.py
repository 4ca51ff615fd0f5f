"""Instructor-only: the solution regions sit where the student release expects them.

Left out of the student release (see .release-exclude): in the release the regions are gone.
"""

import inspect

import pytest

from cs231n import layers, normalization, optim

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

STUDENT_FUNCTIONS = {
    optim: ["sgd_momentum", "rmsprop", "adam"],
    layers: ["affine_forward", "affine_backward", "relu_forward", "relu_backward", "svm_loss",
             "softmax_loss", "dropout_forward", "dropout_backward", "conv_forward_naive",
             "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive"],
    normalization: ["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
                    "layernorm_forward", "layernorm_backward", "spatial_groupnorm_forward",
                    "spatial_groupnorm_backward"],
}


@pytest.mark.parametrize("module", list(STUDENT_FUNCTIONS), ids=lambda m: m.__name__)
def test_regions_are_paired(module):
    source = inspect.getsource(module)
    assert source.count(BEGIN) == source.count(END) > 0


@pytest.mark.parametrize("module,name", [(m, n) for m, names in STUDENT_FUNCTIONS.items() for n in names],
                         ids=lambda v: getattr(v, "__name__", v))
def test_student_function_holds_a_region(module, name):
    assert BEGIN in inspect.getsource(getattr(module, name))


def test_given_code_has_no_region():
    assert BEGIN not in inspect.getsource(optim.sgd)
