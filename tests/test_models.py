"""Models: shapes, forward pass against independent numpy code, gradients against centred
differences (float64), regularisation, modes, dtypes, randomness, bad arguments, and
overfitting a small synthetic set."""

import math

import numpy as np
import pytest

from cs231n.classifiers import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from cs231n.gradient_check import eval_numerical_gradient, rel_error
from cs231n.layers import conv_forward_naive, max_pool_forward_naive, softmax_loss

NORMS = [None, "batchnorm", "layernorm"]


def _data(seed, shape, num_classes):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.integers(num_classes, size=shape[0])


def _grad_errors(model, X, y):
    """Error between the analytic and the numerical gradient of every parameter.

    The error of a parameter is max|analytic - numeric| / (max|analytic| + max|numeric|):
    relative to the scale of that gradient, so tiny entries (whose centred differences carry
    an absolute rounding error of ~1e-10) do not dominate. A gradient that is numerically zero
    (the bias of a layer followed by batchnorm, which the batch mean cancels) counts as its
    largest analytic entry instead, which must also be ~0.
    """
    _, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    errors = {}
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param, verbose=False)
        analytic = grads[name]
        assert analytic.shape == param.shape
        scale = np.max(np.abs(numeric)) + np.max(np.abs(analytic))
        if np.max(np.abs(numeric)) < 1e-9:
            errors[name] = float(np.max(np.abs(analytic)))
        else:
            errors[name] = float(np.max(np.abs(analytic - numeric)) / scale)
    return errors


def _jitter_biases(model, seed=0):
    """Give every bias a random value, so that no pre-activation sits exactly on the ReLU kink
    at 0 (zero biases do that when every input of a unit is zero after dropout or ReLU)."""
    rng = np.random.default_rng(seed)
    for k, v in model.params.items():
        if k.startswith("b"):
            model.params[k] = rng.normal(0, 0.1, size=v.shape).astype(v.dtype)
    return model


def _small_fc(normalization=None, dropout=1, reg=0.0, seed=None, dtype=np.float64):
    return FullyConnectedNet([6, 5], input_dim=8, num_classes=4, dropout=dropout,
                             normalization=normalization, reg=reg, weight_scale=0.5,
                             dtype=dtype, seed=seed, rng=0)


def _small_cnn(reg=0.0, dtype=np.float64, init="gaussian", input_dim=(3, 8, 8)):
    return ThreeLayerConvNet(input_dim=input_dim, num_filters=3, filter_size=3, hidden_dim=7,
                             num_classes=4, weight_scale=0.3, reg=reg, dtype=dtype, init=init, rng=1)


def _weight_penalty(model, reg):
    return 0.5 * reg * sum(float(np.sum(v.astype(np.float64) ** 2))
                           for k, v in model.params.items() if k.startswith("W"))


# ---------------------------------------------------------------------------------------------
# TwoLayerNet
# ---------------------------------------------------------------------------------------------

def test_two_layer_net_parameters_and_init():
    model = TwoLayerNet(input_dim=300, hidden_dim=200, num_classes=7, weight_scale=0.1, rng=0)
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes == {"W1": (300, 200), "b1": (200,), "W2": (200, 7), "b2": (7,)}
    assert abs(model.params["W1"].std() - 0.1) < 0.005 and abs(model.params["W1"].mean()) < 0.002
    assert not model.params["b1"].any() and not model.params["b2"].any()


def test_two_layer_net_scores_and_loss_match_numpy():
    model = TwoLayerNet(input_dim=12, hidden_dim=5, num_classes=3, weight_scale=0.5, rng=2)
    model.params["b1"] = np.linspace(-0.3, 0.4, 5)
    model.params["b2"] = np.linspace(0.2, -0.1, 3)
    X, y = _data(3, (4, 3, 2, 2), 3)
    p = model.params
    expected = np.maximum(X.reshape(4, 12) @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
    scores = model.loss(X)
    assert scores.shape == (4, 3)
    assert rel_error(scores, expected) < 1e-12
    model.reg = 0.3
    loss, _ = model.loss(X, y)
    assert isinstance(loss, float)
    assert abs(loss - softmax_loss(expected, y)[0] - _weight_penalty(model, 0.3)) < 1e-12


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_gradients(reg):
    model = _jitter_biases(TwoLayerNet(input_dim=6, hidden_dim=5, num_classes=3, weight_scale=0.5,
                                       reg=reg, rng=4))
    X, y = _data(5, (4, 6), 3)
    for name, err in _grad_errors(model, X, y).items():
        assert err < 1e-8, f"{name}: {err:.2e}"


def test_two_layer_net_initial_loss_is_log_num_classes():
    model = TwoLayerNet(input_dim=20, hidden_dim=10, num_classes=10, weight_scale=1e-3, rng=0)
    X, y = _data(6, (50, 20), 10)
    loss, _ = model.loss(X, y)
    assert abs(loss - math.log(10)) < 1e-3


# ---------------------------------------------------------------------------------------------
# FullyConnectedNet
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("normalization", NORMS)
def test_fc_parameters(normalization):
    model = FullyConnectedNet([7, 5, 6], input_dim=9, num_classes=3, normalization=normalization,
                              weight_scale=0.2, rng=0)
    expected = {"W1": (9, 7), "b1": (7,), "W2": (7, 5), "b2": (5,), "W3": (5, 6), "b3": (6,),
                "W4": (6, 3), "b4": (3,)}
    if normalization:
        expected.update({"gamma1": (7,), "beta1": (7,), "gamma2": (5,), "beta2": (5,),
                         "gamma3": (6,), "beta3": (6,)})
        assert model.bn_params == [{"mode": "train"}] * 3
        assert all(np.all(model.params[f"gamma{i}"] == 1) for i in (1, 2, 3))
        assert all(not model.params[f"beta{i}"].any() for i in (1, 2, 3))
    else:
        assert model.bn_params == []
    assert {k: v.shape for k, v in model.params.items()} == expected
    assert model.num_layers == 4
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert all(not model.params[f"b{i}"].any() for i in (1, 2, 3, 4))


def test_fc_dropout_param():
    assert FullyConnectedNet([5], dropout=1).dropout_param == {}
    assert FullyConnectedNet([5], dropout=0.75).dropout_param == {"mode": "train", "p": 0.75}
    seeded = FullyConnectedNet([5], dropout=0.75, seed=3)
    assert seeded.dropout_param == {"mode": "train", "p": 0.75, "seed": 3}


@pytest.mark.parametrize("normalization", NORMS)
@pytest.mark.parametrize("reg", [0.0, 3.14])
def test_fc_gradients(normalization, reg):
    model = _jitter_biases(_small_fc(normalization, reg=reg))
    X, y = _data(7, (5, 8), 4)
    for name, err in _grad_errors(model, X, y).items():
        assert err < 1e-8, f"{name}: {err:.2e}"


@pytest.mark.parametrize("normalization", NORMS)
def test_fc_gradients_with_dropout(normalization):
    model = _jitter_biases(_small_fc(normalization, dropout=0.6, reg=0.1, seed=123))
    X, y = _data(11, (5, 8), 4)
    for name, err in _grad_errors(model, X, y).items():
        assert err < 1e-8, f"{name}: {err:.2e}"


def test_fc_scores_match_numpy_without_normalization():
    model = _small_fc()
    X, _ = _data(9, (5, 2, 4), 4)
    h = X.reshape(5, 8)
    for i in (1, 2):
        h = np.maximum(h @ model.params[f"W{i}"] + model.params[f"b{i}"], 0)
    expected = h @ model.params["W3"] + model.params["b3"]
    assert rel_error(model.loss(X), expected) < 1e-12


@pytest.mark.parametrize("normalization", NORMS)
def test_fc_test_mode_is_deterministic_and_dropout_free(normalization):
    model = _small_fc(normalization, dropout=0.5)
    plain = _small_fc(normalization)
    X, y = _data(11, (6, 8), 4)
    model.loss(X, y)
    plain.loss(X, y)
    for bn, bn_plain in zip(model.bn_params, plain.bn_params):
        bn_plain.update({k: v.copy() for k, v in bn.items() if isinstance(v, np.ndarray)})
    first = model.loss(X)
    assert model.dropout_param["mode"] == "test"
    assert np.array_equal(first, model.loss(X))
    assert np.array_equal(first, plain.loss(X))


def test_fc_dropout_changes_training_loss_and_seed_makes_it_repeatable():
    X, y = _data(12, (6, 8), 4)
    plain_loss = _small_fc().loss(X, y)[0]
    model = _small_fc(dropout=0.5, seed=5)
    loss = model.loss(X, y)[0]
    assert loss != plain_loss
    assert loss == model.loss(X, y)[0]
    model.dropout_param["seed"] = 6  # what Solver does at every step
    assert model.loss(X, y)[0] != loss


@pytest.mark.parametrize("normalization", NORMS)
def test_fc_initial_loss_is_log_num_classes(normalization):
    model = FullyConnectedNet([30, 20], input_dim=15, num_classes=10, normalization=normalization,
                              weight_scale=1e-3, rng=0)
    X, y = _data(13, (40, 15), 10)
    loss, _ = model.loss(X, y)
    assert abs(loss - math.log(10)) < 1e-2


@pytest.mark.parametrize("normalization", NORMS)
def test_fc_float32_end_to_end(normalization):
    model = _small_fc(normalization, dropout=0.7, seed=0, dtype=np.float32)
    X, y = _data(14, (5, 8), 4)
    assert model.loss(X).dtype == np.float32
    loss, grads = model.loss(X, y)
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in grads.values())


# ---------------------------------------------------------------------------------------------
# Regularisation, for every model
# ---------------------------------------------------------------------------------------------

MODEL_FACTORIES = {
    "two_layer": (lambda reg: TwoLayerNet(input_dim=8, hidden_dim=6, num_classes=4, weight_scale=0.5,
                                          reg=reg, rng=0), (5, 8)),
    "fc": (lambda reg: _small_fc(reg=reg), (5, 8)),
    "fc_batchnorm_dropout": (lambda reg: _small_fc("batchnorm", dropout=0.7, reg=reg, seed=2), (5, 8)),
    "fc_layernorm": (lambda reg: _small_fc("layernorm", reg=reg), (5, 8)),
    "cnn": (lambda reg: _small_cnn(reg=reg), (2, 3, 8, 8)),
}


@pytest.mark.parametrize("name", MODEL_FACTORIES)
def test_reg_adds_exactly_half_reg_sum_of_squared_weights(name):
    factory, shape = MODEL_FACTORIES[name]
    reg = 0.37
    plain, regularised = factory(0.0), factory(reg)
    X, y = _data(15, shape, 4)
    loss0, grads0 = plain.loss(X, y)
    loss1, grads1 = regularised.loss(X, y)
    assert abs((loss1 - loss0) - _weight_penalty(plain, reg)) < 1e-10
    for k, p in plain.params.items():
        expected = reg * p if k.startswith("W") else 0.0
        assert np.allclose(grads1[k] - grads0[k], expected, rtol=0, atol=1e-12), k


# ---------------------------------------------------------------------------------------------
# ThreeLayerConvNet
# ---------------------------------------------------------------------------------------------

def test_cnn_parameters():
    model = ThreeLayerConvNet(input_dim=(3, 9, 7), num_filters=5, filter_size=3, hidden_dim=11,
                              num_classes=6, rng=0)
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes == {"W1": (5, 3, 3, 3), "b1": (5,), "W2": (5 * 4 * 3, 11), "b2": (11,),
                      "W3": (11, 6), "b3": (6,)}
    assert all(v.dtype == np.float32 for v in model.params.values())


def test_cnn_default_architecture_shapes():
    model = ThreeLayerConvNet(rng=0)
    assert model.params["W1"].shape == (32, 3, 7, 7)
    assert model.params["W2"].shape == (32 * 16 * 16, 100)
    assert model.params["W3"].shape == (100, 10)
    assert abs(model.params["W2"].std() - 1e-3) < 1e-5


def test_cnn_kaiming_init_scales():
    model = ThreeLayerConvNet(num_filters=16, filter_size=5, hidden_dim=64, init="kaiming", rng=0)
    assert abs(model.params["W1"].std() / math.sqrt(2 / (3 * 25)) - 1) < 0.05
    assert abs(model.params["W2"].std() / math.sqrt(2 / (16 * 16 * 16)) - 1) < 0.02
    assert abs(model.params["W3"].std() / math.sqrt(1 / 64) - 1) < 0.1
    he = ThreeLayerConvNet(num_filters=16, filter_size=5, hidden_dim=64, init="he", rng=0)
    assert all(np.array_equal(he.params[k], model.params[k]) for k in model.params)


@pytest.mark.parametrize("input_dim", [(3, 8, 8), (2, 7, 9)])
def test_cnn_scores_match_naive_layers(input_dim):
    model = _small_cnn(input_dim=input_dim)
    model.params["b1"] = np.linspace(-0.1, 0.2, 3)
    model.params["b2"] = np.linspace(0.1, -0.3, 7)
    X, y = _data(16, (2,) + input_dim, 4)
    p = model.params
    a = np.maximum(conv_forward_naive(X, p["W1"], p["b1"], {"stride": 1, "pad": 1})[0], 0)
    pooled = max_pool_forward_naive(a, {"pool_height": 2, "pool_width": 2, "stride": 2})[0]
    hidden = np.maximum(pooled.reshape(2, -1) @ p["W2"] + p["b2"], 0)
    expected = hidden @ p["W3"] + p["b3"]
    scores = model.loss(X)
    assert scores.shape == (2, 4)
    assert rel_error(scores, expected) < 1e-10
    loss, _ = model.loss(X, y)
    assert abs(loss - softmax_loss(expected, y)[0]) < 1e-12


@pytest.mark.parametrize("reg", [0.0, 0.5])
@pytest.mark.parametrize("init", ["gaussian", "kaiming"])
def test_cnn_gradients(reg, init):
    model = _jitter_biases(_small_cnn(reg=reg, init=init))
    X, y = _data(17, (2, 3, 8, 8), 4)
    for name, err in _grad_errors(model, X, y).items():
        assert err < 1e-8, f"{name}: {err:.2e}"


def test_cnn_initial_loss_is_log_num_classes():
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=10,
                              weight_scale=1e-3, rng=0)
    X, y = _data(18, (30, 3, 8, 8), 10)
    loss, _ = model.loss(X, y)
    assert abs(loss - math.log(10)) < 1e-3


def test_cnn_casts_input_to_its_dtype():
    X, y = _data(19, (2, 3, 8, 8), 4)
    model = _small_cnn(dtype=np.float32)
    scores = model.loss(X)  # float64 input
    assert scores.dtype == np.float32
    assert np.array_equal(scores, model.loss(X.astype(np.float32)))
    loss, grads = model.loss(X, y)
    assert all(g.dtype == np.float32 for g in grads.values())
    model64 = _small_cnn(dtype=np.float64)
    assert model64.loss(X.astype(np.float32)).dtype == np.float64
    assert _small_cnn().loss(np.ones((1, 3, 8, 8), dtype=np.uint8)).shape == (1, 4)


def test_models_do_not_modify_inputs():
    X, y = _data(20, (2, 3, 8, 8), 4)
    X32 = X.astype(np.float32)
    copies = (X.copy(), X32.copy(), y.copy())
    _small_cnn(dtype=np.float32).loss(X32, y)
    _small_cnn().loss(X, y)
    FullyConnectedNet([5], input_dim=192, num_classes=4, normalization="batchnorm", dropout=0.5).loss(X, y)
    assert all(np.array_equal(a, b) for a, b in zip((X, X32, y), copies))


# ---------------------------------------------------------------------------------------------
# Initialisation randomness
# ---------------------------------------------------------------------------------------------

CONSTRUCTORS = {
    "two_layer": lambda rng: TwoLayerNet(input_dim=10, hidden_dim=4, rng=rng),
    "fc": lambda rng: FullyConnectedNet([4, 3], input_dim=10, rng=rng),
    "cnn": lambda rng: ThreeLayerConvNet(input_dim=(3, 6, 6), num_filters=2, filter_size=3,
                                         hidden_dim=4, rng=rng),
}


@pytest.mark.parametrize("name", CONSTRUCTORS)
def test_rng_seed_makes_init_reproducible_and_leaves_global_state_alone(name):
    build = CONSTRUCTORS[name]
    state = np.random.get_state()
    a, b, c = build(7), build(7), build(np.random.default_rng(7))
    after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(state[1:], after[1:]))
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])
        assert np.array_equal(a.params[k], c.params[k])
    assert not np.array_equal(a.params["W1"], build(8).params["W1"])


@pytest.mark.parametrize("name", CONSTRUCTORS)
def test_without_rng_init_follows_the_callers_global_seed(name):
    build = CONSTRUCTORS[name]
    np.random.seed(231)
    a = build(None)
    np.random.seed(231)
    b = build(None)
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])


# ---------------------------------------------------------------------------------------------
# Bad arguments: one case per line
# ---------------------------------------------------------------------------------------------

BAD_CONSTRUCTOR_ARGS = [
    (TwoLayerNet, {"input_dim": 0}, ValueError, "input_dim"),
    (TwoLayerNet, {"hidden_dim": -3}, ValueError, "hidden_dim"),
    (TwoLayerNet, {"num_classes": 2.0}, TypeError, "num_classes"),
    (TwoLayerNet, {"weight_scale": 0}, ValueError, "weight_scale"),
    (TwoLayerNet, {"reg": -1}, ValueError, "reg"),
    (TwoLayerNet, {"rng": "seed"}, TypeError, "rng"),
    (TwoLayerNet, {"rng": -1}, ValueError, "rng"),
    (FullyConnectedNet, {"hidden_dims": []}, ValueError, "hidden_dims"),
    (FullyConnectedNet, {"hidden_dims": 100}, TypeError, "hidden_dims"),
    (FullyConnectedNet, {"hidden_dims": [100, 0]}, ValueError, r"hidden_dims\[1\]"),
    (FullyConnectedNet, {"hidden_dims": [100, 1.5]}, TypeError, r"hidden_dims\[1\]"),
    (FullyConnectedNet, {"hidden_dims": [10], "dropout": 0}, ValueError, "dropout"),
    (FullyConnectedNet, {"hidden_dims": [10], "dropout": 1.5}, ValueError, "dropout"),
    (FullyConnectedNet, {"hidden_dims": [10], "normalization": "groupnorm"}, ValueError, "groupnorm"),
    (FullyConnectedNet, {"hidden_dims": [10], "dtype": np.int32}, ValueError, "dtype"),
    (FullyConnectedNet, {"hidden_dims": [10], "seed": -2}, ValueError, "seed"),
    (FullyConnectedNet, {"hidden_dims": [10], "input_dim": 0}, ValueError, "input_dim"),
    (FullyConnectedNet, {"hidden_dims": [10], "weight_scale": -1e-2}, ValueError, "weight_scale"),
    (ThreeLayerConvNet, {"filter_size": 4}, ValueError, "filter_size"),
    (ThreeLayerConvNet, {"filter_size": 0}, ValueError, "filter_size"),
    (ThreeLayerConvNet, {"num_filters": 0}, ValueError, "num_filters"),
    (ThreeLayerConvNet, {"hidden_dim": 0}, ValueError, "hidden_dim"),
    (ThreeLayerConvNet, {"input_dim": (3, 32)}, ValueError, "input_dim"),
    (ThreeLayerConvNet, {"input_dim": (3, 1, 32)}, ValueError, "input_dim"),
    (ThreeLayerConvNet, {"init": "xavier"}, ValueError, "xavier"),
    (ThreeLayerConvNet, {"dtype": "int64"}, ValueError, "dtype"),
    (ThreeLayerConvNet, {"reg": float("nan")}, ValueError, "reg"),
]


@pytest.mark.parametrize("cls, kwargs, exc, match", BAD_CONSTRUCTOR_ARGS,
                         ids=[f"{c.__name__}-{k}" for c, k, _, _ in BAD_CONSTRUCTOR_ARGS])
def test_bad_constructor_arguments(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


BAD_LOSS_INPUTS = {
    "fc_wrong_features": (lambda: _small_fc(), np.ones((3, 9)), None, "X"),
    "fc_1d_input": (lambda: _small_fc(), np.ones(8), None, "X"),
    "fc_label_out_of_range": (lambda: _small_fc(), np.ones((2, 8)), np.array([0, 4]), "label 4"),
    "fc_label_count": (lambda: _small_fc(), np.ones((2, 8)), np.array([0, 1, 2]), "y"),
    "two_layer_wrong_features": (lambda: TwoLayerNet(input_dim=8), np.ones((3, 2, 3)), None, "X"),
    "cnn_wrong_image_size": (lambda: _small_cnn(), np.ones((2, 3, 8, 7)), None, "X"),
    "cnn_wrong_channels": (lambda: _small_cnn(), np.ones((2, 1, 8, 8)), None, "X"),
    "cnn_empty_batch": (lambda: _small_cnn(), np.ones((0, 3, 8, 8)), None, "X"),
}


@pytest.mark.parametrize("case", BAD_LOSS_INPUTS)
def test_bad_loss_inputs(case):
    build, X, y, match = BAD_LOSS_INPUTS[case]
    with pytest.raises(ValueError, match=match):
        build().loss(X, y)


def test_bad_batchnorm_input_leaves_running_stats_untouched():
    model = _small_fc("batchnorm")
    with pytest.raises(ValueError):
        model.loss(np.ones((2, 8)), np.array([0, 7]))
    assert all("running_mean" not in bn for bn in model.bn_params)


# ---------------------------------------------------------------------------------------------
# Overfitting a small synthetic set of coloured patterns
# ---------------------------------------------------------------------------------------------

def _patterns(num_per_class=10, size=8, noise=0.5, seed=0):
    """Four classes of 3 x size x size images: red horizontal stripes, green vertical stripes,
    a blue checkerboard and a bright centre square, each with random brightness and noise."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[:size, :size]
    shapes = [(r % 2 == 0), (c % 2 == 0), ((r + c) % 2 == 0),
              (abs(r - size / 2 + 0.5) < size / 4) & (abs(c - size / 2 + 0.5) < size / 4)]
    colours = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)]
    X, y = [], []
    for label, (shape, colour) in enumerate(zip(shapes, colours)):
        for _ in range(num_per_class):
            img = np.array(colour, float)[:, None, None] * shape * rng.uniform(0.5, 1.5)
            X.append(img + noise * rng.normal(size=(3, size, size)))
            y.append(label)
    X = np.array(X)
    return X - X.mean(axis=0), np.array(y)


def _adam_fit(model, X, y, steps, lr):
    """Full-batch Adam, written here so the test depends on the model only."""
    m = {k: np.zeros_like(v) for k, v in model.params.items()}
    v = {k: np.zeros_like(p) for k, p in model.params.items()}
    for t in range(1, steps + 1):
        _, grads = model.loss(X, y)
        for k, g in grads.items():
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            step = lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
            model.params[k] = (model.params[k] - step).astype(model.params[k].dtype)
    return float(np.mean(model.loss(X).argmax(axis=1) == y))


OVERFIT_MODELS = {
    "two_layer": lambda: TwoLayerNet(input_dim=192, hidden_dim=50, num_classes=4, weight_scale=1e-2, rng=0),
    "fc": lambda: FullyConnectedNet([50, 50], input_dim=192, num_classes=4, rng=0),
    "fc_batchnorm": lambda: FullyConnectedNet([50, 50], input_dim=192, num_classes=4,
                                              normalization="batchnorm", rng=0),
    "fc_layernorm": lambda: FullyConnectedNet([50, 50], input_dim=192, num_classes=4,
                                              normalization="layernorm", rng=0),
    "fc_dropout": lambda: FullyConnectedNet([50, 50], input_dim=192, num_classes=4, dropout=0.8,
                                            seed=0, rng=0),
    "cnn": lambda: ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=8, filter_size=3,
                                     hidden_dim=32, num_classes=4, weight_scale=1e-2, rng=0),
    "cnn_kaiming": lambda: ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=8, filter_size=3,
                                             hidden_dim=32, num_classes=4, init="kaiming", rng=0),
}


@pytest.mark.parametrize("name", OVERFIT_MODELS)
def test_overfits_a_small_synthetic_set(name):
    X, y = _patterns()
    model = OVERFIT_MODELS[name]()
    assert _adam_fit(model, X, y, steps=100, lr=1e-2) == 1.0


# ---------------------------------------------------------------------------------------------
# API forms of the 2019 and the current (2025/2026) editions
# ---------------------------------------------------------------------------------------------

def test_fc_dropout_keep_ratio_is_the_current_editions_name_for_dropout():
    current = FullyConnectedNet([6, 5], input_dim=4, num_classes=3, dropout_keep_ratio=0.5, seed=2, rng=0)
    classic = FullyConnectedNet([6, 5], input_dim=4, num_classes=3, dropout=0.5, seed=2, rng=0)
    assert current.use_dropout and current.dropout_param == classic.dropout_param == {
        "mode": "train", "p": 0.5, "seed": 2}
    X, y = _data(3, (4, 4), 3)
    assert current.loss(X, y)[0] == classic.loss(X, y)[0]
    assert not FullyConnectedNet([6], dropout_keep_ratio=1).use_dropout
    assert not FullyConnectedNet([6]).use_dropout


def test_fc_dropout_and_dropout_keep_ratio_together_is_an_error():
    with pytest.raises(TypeError, match="not both"):
        FullyConnectedNet([6], dropout=0.5, dropout_keep_ratio=0.5)
    with pytest.raises(ValueError, match="dropout_keep_ratio"):
        FullyConnectedNet([6], dropout_keep_ratio=0.0)


@pytest.mark.parametrize("module", ["cs231n.classifiers.fc_net", "cs231n.classifiers.cnn"])
def test_star_import_brings_the_layers_and_sandwich_layers(module):
    namespace = {}
    exec(f"from {module} import *", namespace)
    for name in ("dropout_forward", "dropout_backward", "affine_forward", "affine_relu_forward",
                 "affine_relu_backward", "batchnorm_forward", "layernorm_backward", "softmax_loss",
                 "svm_loss", "conv_relu_pool_forward", "spatial_groupnorm_forward"):
        assert callable(namespace[name]), name
    assert ("ThreeLayerConvNet" if module.endswith("cnn") else "FullyConnectedNet") in namespace
    if module.endswith("cnn"):
        assert callable(namespace["conv_forward_fast"]) and callable(namespace["max_pool_backward_fast"])
    assert "np" not in namespace and not any(name.startswith("_") for name in namespace if name != "__builtins__")
    # the star-imported functions are the package's own
    import cs231n.layers
    assert namespace["dropout_forward"] is cs231n.layers.dropout_forward
    out, cache = namespace["dropout_forward"](np.ones((2, 3)), {"mode": "test", "p": 0.5})
    np.testing.assert_array_equal(namespace["dropout_backward"](np.ones((2, 3)), cache), np.ones((2, 3)))


def test_gradient_of_the_wrong_shape_is_reported_by_name():
    model = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2, rng=0)
    X, y = _data(4, (2, 4), 2)
    original = model.params["b1"]
    from cs231n import _validate
    with pytest.raises(ValueError, match=r"grads\['b1'\] has shape \(1, 3\) but params\['b1'\] has shape \(3,\)"):
        _validate.check_model_gradients(model.params, {**model.loss(X, y)[1], "b1": original[None, :]},
                                        "TwoLayerNet.loss")
