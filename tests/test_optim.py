"""Update rules against their formulas, worked out by hand on 2-element arrays."""

import numpy as np
import pytest

from cs231n import optim

RULES = ["sgd", "sgd_momentum", "rmsprop", "adam"]
DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
STATE_KEYS = {"sgd": [], "sgd_momentum": ["velocity"], "rmsprop": ["cache"], "adam": ["m", "v"]}


def w0():
    return np.array([1.0, -2.0])


def rule(name):
    return getattr(optim, name)


# ---- sgd ---------------------------------------------------------------------------------------

def test_sgd_default_learning_rate():
    # 1 - 0.01 * 0.5 = 0.995; -2 - 0.01 * 4 = -2.04
    next_w, config = optim.sgd(w0(), np.array([0.5, 4.0]))
    np.testing.assert_allclose(next_w, [0.995, -2.04], rtol=0, atol=1e-12)
    assert config == {"learning_rate": 1e-2}


def test_sgd_given_learning_rate():
    # 1 - 0.1 * 0.5 = 0.95; -2 - 0.1 * 4 = -2.4
    next_w, _ = optim.sgd(w0(), np.array([0.5, 4.0]), {"learning_rate": 0.1})
    np.testing.assert_allclose(next_w, [0.95, -2.4], rtol=0, atol=1e-12)


# ---- sgd_momentum ------------------------------------------------------------------------------

def test_sgd_momentum_two_steps():
    config = {"learning_rate": 0.1, "momentum": 0.9}
    # step 1: v = 0.9 * 0 - 0.1 * [0.5, 4] = [-0.05, -0.4]; w = [0.95, -2.4]
    w1, config = optim.sgd_momentum(w0(), np.array([0.5, 4.0]), config)
    np.testing.assert_allclose(config["velocity"], [-0.05, -0.4], rtol=0, atol=1e-12)
    np.testing.assert_allclose(w1, [0.95, -2.4], rtol=0, atol=1e-12)
    # step 2: v = 0.9 * [-0.05, -0.4] - 0.1 * [1, -2] = [-0.145, -0.16]; w = [0.805, -2.56]
    w2, config = optim.sgd_momentum(w1, np.array([1.0, -2.0]), config)
    np.testing.assert_allclose(config["velocity"], [-0.145, -0.16], rtol=0, atol=1e-12)
    np.testing.assert_allclose(w2, [0.805, -2.56], rtol=0, atol=1e-12)


def test_sgd_momentum_zero_momentum_is_sgd():
    dw = np.array([0.5, 4.0])
    config = {"learning_rate": 0.1, "momentum": 0.0, "velocity": np.array([7.0, 7.0])}
    next_w, _ = optim.sgd_momentum(w0(), dw, config)
    np.testing.assert_allclose(next_w, [0.95, -2.4], rtol=0, atol=1e-12)


# ---- rmsprop -----------------------------------------------------------------------------------

def test_rmsprop_two_steps():
    config = {"learning_rate": 0.1, "decay_rate": 0.75, "epsilon": 1e-12}
    # step 1: cache = 0.25 * [4, 16] = [1, 4]; step = 0.1 * [2 / 1, -4 / 2] = [0.2, -0.2]
    w1, config = optim.rmsprop(w0(), np.array([2.0, -4.0]), config)
    np.testing.assert_allclose(config["cache"], [1.0, 4.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(w1, [0.8, -1.8], rtol=0, atol=1e-10)
    # step 2: cache = 0.75 * [1, 4] + 0.25 * [1, 4] = [1, 4]; step = 0.1 * [1 / 1, 2 / 2]
    w2, config = optim.rmsprop(w1, np.array([1.0, 2.0]), config)
    np.testing.assert_allclose(config["cache"], [1.0, 4.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(w2, [0.7, -1.9], rtol=0, atol=1e-10)


def test_rmsprop_zero_gradient_is_finite():
    # cache stays 0; the step is 0 / (0 + eps) = 0, not 0 / 0.
    next_w, config = optim.rmsprop(w0(), np.zeros(2))
    np.testing.assert_array_equal(next_w, w0())
    np.testing.assert_array_equal(config["cache"], [0.0, 0.0])


# ---- adam --------------------------------------------------------------------------------------

def test_adam_first_step_is_learning_rate_times_sign():
    # t = 1: m_hat = (1 - b1) dw / (1 - b1) = dw and v_hat = dw**2, so the step is
    # lr * dw / (|dw| + eps): almost exactly lr * sign(dw), whatever the gradient's size.
    w = np.array([1.0, -2.0, 3.0])
    dw = np.array([1e-3, -50.0, 2.0])
    next_w, config = optim.adam(w, dw, {"learning_rate": 0.1})
    np.testing.assert_allclose(next_w, [0.9, -1.9, 2.9], rtol=0, atol=1e-5)
    assert config["t"] == 1
    # raw (uncorrected) moments: m = 0.1 dw, v = 0.001 dw**2
    np.testing.assert_allclose(config["m"], 0.1 * dw, rtol=1e-12)
    np.testing.assert_allclose(config["v"], 0.001 * dw**2, rtol=1e-12)


def test_adam_two_steps_with_bias_correction():
    config = {"learning_rate": 0.1, "beta1": 0.5, "beta2": 0.75, "epsilon": 1e-12}
    # step 1 (t=1): m = 0.5 [2, -4] = [1, -2]; v = 0.25 [4, 16] = [1, 4]
    #   m_hat = m / 0.5 = [2, -4]; v_hat = v / 0.25 = [4, 16]; step = 0.1 [2/2, -4/4]
    w1, config = optim.adam(w0(), np.array([2.0, -4.0]), config)
    np.testing.assert_allclose(w1, [0.9, -1.9], rtol=0, atol=1e-10)
    np.testing.assert_allclose(config["m"], [1.0, -2.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(config["v"], [1.0, 4.0], rtol=0, atol=1e-12)
    # step 2 (t=2): m = 0.5 [1, -2] + 0.5 [2, 4] = [1.5, 1]; v = 0.75 [1, 4] + 0.25 [4, 16] = [1.75, 7]
    #   m_hat = m / 0.75 = [2, 4/3]; v_hat = v / 0.4375 = [4, 16]; step = 0.1 [2/2, (4/3)/4]
    w2, config = optim.adam(w1, np.array([2.0, 4.0]), config)
    assert config["t"] == 2
    np.testing.assert_allclose(config["m"], [1.5, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(config["v"], [1.75, 7.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(w2, [0.8, -1.9 - 0.1 / 3], rtol=0, atol=1e-10)


def test_adam_resumes_from_given_t():
    # With t = 1 given, this call runs with t = 2: beta1**2 = 0.25, beta2**2 = 0.25 (betas 0.5).
    # m = 0.5 * 0 + 0.5 * 2 = 1, m_hat = 1 / 0.75; v = 0.5 * 0 + 0.5 * 4 = 2, v_hat = 2 / 0.75.
    config = {"learning_rate": 1.0, "beta1": 0.5, "beta2": 0.5, "t": 1}
    next_w, config = optim.adam(np.array([0.0]), np.array([2.0]), config)
    expected = -(1 / 0.75) / np.sqrt(2 / 0.75)
    np.testing.assert_allclose(next_w, [expected], rtol=1e-7)
    assert config["t"] == 2


# ---- shared contract ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", RULES)
def test_defaults_are_filled_in(name):
    _, config = rule(name)(w0(), np.array([0.5, -1.0]))
    for key, value in DEFAULTS[name].items():
        assert config[key] == value
    for key in STATE_KEYS[name]:
        assert config[key].shape == (2,)
    if name == "adam":
        assert config["t"] == 1


@pytest.mark.parametrize("name", RULES)
def test_given_config_dict_is_updated_and_returned(name):
    config = {"learning_rate": 0.05}
    _, returned = rule(name)(w0(), np.array([0.5, -1.0]), config)
    assert returned is config
    assert config["learning_rate"] == 0.05


@pytest.mark.parametrize("name", RULES)
def test_inputs_not_modified(name):
    w, dw = w0(), np.array([0.5, -1.0])
    velocity = np.array([0.1, 0.2])
    state = {key: velocity.copy() for key in STATE_KEYS[name]}
    next_w, config = rule(name)(w, dw, dict(state))
    np.testing.assert_array_equal(w, [1.0, -2.0])
    np.testing.assert_array_equal(dw, [0.5, -1.0])
    for key in STATE_KEYS[name]:
        np.testing.assert_array_equal(state[key], velocity)  # the given state array is not written to
    assert next_w is not w and not np.shares_memory(next_w, w)


@pytest.mark.parametrize("name", RULES)
def test_float32_is_preserved(name):
    w = np.array([1.0, -2.0], dtype=np.float32)
    config = None
    for _ in range(2):
        w, config = rule(name)(w, np.array([0.5, -1.0], dtype=np.float32), config)
        assert w.dtype == np.float32
        for key in STATE_KEYS[name]:
            assert config[key].dtype == np.float32


@pytest.mark.parametrize("name", RULES)
def test_float64_gradient_and_state_follow_float32_weights(name):
    w = np.array([1.0, -2.0], dtype=np.float32)
    state = {key: np.zeros(2) for key in STATE_KEYS[name]}
    next_w, config = rule(name)(w, np.array([0.5, -1.0]), state)
    assert next_w.dtype == np.float32
    for key in STATE_KEYS[name]:
        assert config[key].dtype == np.float32


@pytest.mark.parametrize("name", RULES)
def test_shape_mismatch_raises(name):
    with pytest.raises(ValueError, match="shape"):
        rule(name)(np.zeros(3), np.zeros(2))


@pytest.mark.parametrize("name", ["sgd_momentum", "rmsprop", "adam"])
def test_state_of_wrong_shape_raises(name):
    config = {STATE_KEYS[name][0]: np.zeros(5)}
    with pytest.raises(ValueError, match="shape"):
        rule(name)(np.zeros(2), np.zeros(2), config)


@pytest.mark.parametrize("name", ["sgd_momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("size", [3, 1 << 15])  # smaller than the state; exactly one block
def test_own_state_of_wrong_shape_raises(name, size):
    # state the rule allocated itself for a 40000-value parameter, then reused for another one
    _, config = rule(name)(np.zeros(40000), np.ones(40000))
    with pytest.raises(ValueError, match="was this config used for another parameter"):
        rule(name)(np.zeros(size), np.ones(size), config)


@pytest.mark.parametrize("name", RULES)
def test_non_array_weights_raise(name):
    with pytest.raises(TypeError, match="w must be a numpy array"):
        rule(name)([1.0, 2.0], np.zeros(2))


@pytest.mark.parametrize("name", RULES)
def test_non_dict_config_raises(name):
    with pytest.raises(TypeError, match="config must be a dict"):
        rule(name)(np.zeros(2), np.zeros(2), [("learning_rate", 0.1)])


BAD_HYPERPARAMETERS = [
    ("sgd", "learning_rate", 0.0),
    ("sgd", "learning_rate", -0.1),
    ("sgd", "learning_rate", float("nan")),
    ("sgd_momentum", "learning_rate", 0.0),
    ("sgd_momentum", "momentum", 1.0),
    ("sgd_momentum", "momentum", -0.1),
    ("rmsprop", "learning_rate", -1.0),
    ("rmsprop", "decay_rate", 1.0),
    ("rmsprop", "decay_rate", -0.5),
    ("rmsprop", "epsilon", 0.0),
    ("adam", "learning_rate", 0.0),
    ("adam", "beta1", 1.0),
    ("adam", "beta1", -0.1),
    ("adam", "beta2", 1.5),
    ("adam", "epsilon", -1e-8),
]


@pytest.mark.parametrize("name, key, value", BAD_HYPERPARAMETERS)
def test_bad_hyperparameter_raises(name, key, value):
    with pytest.raises(ValueError, match=key):
        rule(name)(np.zeros(2), np.zeros(2), {key: value})


@pytest.mark.parametrize("name", RULES)
def test_non_numeric_learning_rate_raises(name):
    with pytest.raises(TypeError, match="learning_rate"):
        rule(name)(np.zeros(2), np.zeros(2), {"learning_rate": "0.1"})


def test_adam_negative_t_raises():
    with pytest.raises(ValueError, match="'t'"):
        optim.adam(np.zeros(2), np.zeros(2), {"t": -1})


# ---- state: values, stored back in config ------------------------------------------------------

@pytest.mark.parametrize("name", ["sgd_momentum", "rmsprop", "adam"])
def test_state_is_stored_back_and_given_state_is_not_written_to(name):
    given = {key: np.full(2, 0.1) for key in STATE_KEYS[name]}
    config = dict(given)
    _, config = rule(name)(w0(), np.array([0.5, -1.0]), config)
    for key in STATE_KEYS[name]:
        np.testing.assert_array_equal(given[key], [0.1, 0.1])  # the caller's arrays are unchanged
        assert config[key].shape == (2,) and config[key].dtype == np.float64
        assert not np.array_equal(config[key], given[key])  # the new state is in config
    if name == "adam":
        assert config["t"] == 1


def test_state_values_after_one_step_by_hand():
    dw = np.array([0.5, -1.0])
    # velocity = 0.9 * 0.1 - 0.01 * dw = [0.085, 0.1]
    _, config = optim.sgd_momentum(w0(), dw, {"velocity": np.full(2, 0.1)})
    np.testing.assert_allclose(config["velocity"], [0.085, 0.1], rtol=0, atol=1e-15)
    # cache = 0.99 * 0.1 + 0.01 * dw**2 = [0.1015, 0.109]
    _, config = optim.rmsprop(w0(), dw, {"cache": np.full(2, 0.1)})
    np.testing.assert_allclose(config["cache"], [0.1015, 0.109], rtol=0, atol=1e-15)
    # m = 0.9 * 0.1 + 0.1 * dw = [0.14, -0.01]; v = 0.999 * 0.1 + 0.001 * dw**2 = [0.10015, 0.1009]
    _, config = optim.adam(w0(), dw, {"m": np.full(2, 0.1), "v": np.full(2, 0.1), "t": 4})
    np.testing.assert_allclose(config["m"], [0.14, -0.01], rtol=0, atol=1e-15)
    np.testing.assert_allclose(config["v"], [0.10015, 0.1009], rtol=0, atol=1e-15)
    assert config["t"] == 5


@pytest.mark.parametrize("name", ["sgd_momentum", "rmsprop", "adam"])
def test_deep_copied_config_branches_independently(name):
    import copy
    _, config = rule(name)(w0(), np.array([0.5, -1.0]))
    branch = copy.deepcopy(config)
    snapshot = {key: config[key].copy() for key in STATE_KEYS[name]}
    rule(name)(w0(), np.array([3.0, 3.0]), branch)
    for key in STATE_KEYS[name]:
        np.testing.assert_array_equal(config[key], snapshot[key])


# ---- scheduled_rule ------------------------------------------------------------------------------

def recorded_rates(scheduled, steps):
    """The learning rate the wrapped rule sees at each of ``steps`` calls."""
    config, rates = {"learning_rate": 0.1}, []
    for _ in range(steps):
        _, config = scheduled(np.zeros(1), np.ones(1), config)
        rates.append(config["learning_rate"])
    return rates, config


def test_schedule_decays_linearly_to_the_final_fraction_and_stays():
    rates, config = recorded_rates(optim.scheduled_rule("sgd", 4, final_fraction=0.2), 6)
    # factor 1 - 0.8 * k / 4 for k = 0..4, then held at 0.2
    np.testing.assert_allclose(rates, [0.1, 0.08, 0.06, 0.04, 0.02, 0.02], rtol=1e-12)
    assert config["base_learning_rate"] == 0.1 and config["schedule_step"] == 6


def test_schedule_warms_up_then_decays_to_almost_zero():
    rates, _ = recorded_rates(optim.scheduled_rule("sgd", 6, warmup_steps=2), 7)
    # warmup (k + 1) / 2 for k = 0, 1; then 1 - (k - 2) / 4 for k = 2..6, floored at 1e-12
    np.testing.assert_allclose(rates, [0.05, 0.1, 0.1, 0.075, 0.05, 0.025, 1e-13], rtol=1e-12)


def test_scheduled_sgd_step_uses_the_scheduled_rate():
    scheduled = optim.scheduled_rule("sgd", 2)
    config = {"learning_rate": 1.0}
    w, config = scheduled(np.array([1.0]), np.array([1.0]), config)  # rate 1.0
    w, config = scheduled(w, np.array([1.0]), config)  # rate 0.5
    np.testing.assert_allclose(w, [-0.5])


def test_scheduled_rule_accepts_a_callable_and_names_itself():
    scheduled = optim.scheduled_rule(optim.adam, 10)
    assert scheduled.__name__ == "scheduled_adam"
    _, config = scheduled(np.zeros(2), np.ones(2))
    assert config["t"] == 1 and config["base_learning_rate"] == 1e-3


@pytest.mark.parametrize("kwargs, error, match", [
    ({"rule": "nesterov", "total_steps": 5}, ValueError, "nesterov"),
    ({"rule": 3, "total_steps": 5}, TypeError, "rule"),
    ({"rule": "adam", "total_steps": 0}, ValueError, "total_steps"),
    ({"rule": "adam", "total_steps": 2.5}, TypeError, "total_steps"),
    ({"rule": "adam", "total_steps": 5, "warmup_steps": 6}, ValueError, "warmup_steps"),
    ({"rule": "adam", "total_steps": 5, "warmup_steps": -1}, ValueError, "warmup_steps"),
    ({"rule": "adam", "total_steps": 5, "final_fraction": 1.5}, ValueError, "final_fraction"),
])
def test_scheduled_rule_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        optim.scheduled_rule(**kwargs)


def test_solver_takes_a_scheduled_rule_but_not_scheduled_rule_by_name():
    from cs231n.solver import Solver

    class Tiny:
        params = {"W": np.zeros(1)}

        def loss(self, X, y=None):
            return (0.0, {"W": np.zeros(1)}) if y is not None else np.zeros((len(X), 2))

    data = {"X_train": np.zeros((4, 1)), "y_train": np.zeros(4, int),
            "X_val": np.zeros((2, 1)), "y_val": np.zeros(2, int)}
    Solver(Tiny(), data, update_rule=optim.scheduled_rule("adam", 4), verbose=False)
    with pytest.raises(ValueError, match="scheduled_rule"):
        Solver(Tiny(), data, update_rule="scheduled_rule", verbose=False)
