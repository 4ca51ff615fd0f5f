"""The Solver's block-by-block update of large parameters gives exactly the rule's own result."""

import numpy as np
import pytest

from cs231n import _blocked_update, optim
from cs231n.solver import Solver

SHAPE = (1400, 500)  # 700,000 elements: above MIN_SIZE, 5 (float32) or 10 (float64) full blocks and a partial one


def _random(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _same_config(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert isinstance(b[key], np.ndarray) and b[key].shape == a[key].shape, key
            np.testing.assert_array_equal(b[key], a[key], err_msg=key)
            assert b[key].dtype == a[key].dtype, key
        else:
            assert b[key] == a[key], key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", optim.UPDATE_RULES)
def test_blocks_match_one_call_bit_for_bit(name, dtype):
    rule = getattr(optim, name)
    w_whole = w_blocks = _random(SHAPE, dtype, 0)
    config_whole, config_blocks = {"learning_rate": 1e-3}, {"learning_rate": 1e-3}
    for step in range(3):  # the first call creates the state arrays, the later ones carry them
        dw = _random(SHAPE, dtype, step + 1)
        w_whole, config_whole = rule(w_whole, dw, config_whole)
        w_blocks, config_blocks = _blocked_update.update_in_blocks(rule, w_blocks, dw, config_blocks)
        assert w_blocks.shape == SHAPE and w_blocks.dtype == dtype
        np.testing.assert_array_equal(w_blocks, w_whole)
        _same_config(config_whole, config_blocks)
    if name == "adam":
        assert config_blocks["t"] == 3


def test_scheduled_rule_in_blocks_matches_one_call():
    rule = optim.scheduled_rule("adam", total_steps=4, warmup_steps=1)
    assert _blocked_update.is_elementwise(rule)
    w_whole = w_blocks = _random(SHAPE, np.float32, 0)
    config_whole, config_blocks = {"learning_rate": 2e-3}, {"learning_rate": 2e-3}
    for step in range(3):
        dw = _random(SHAPE, np.float32, step + 1)
        w_whole, config_whole = rule(w_whole, dw, config_whole)
        w_blocks, config_blocks = _blocked_update.update_in_blocks(rule, w_blocks, dw, config_blocks)
        np.testing.assert_array_equal(w_blocks, w_whole)
        _same_config(config_whole, config_blocks)
    assert config_blocks["schedule_step"] == 3


def test_inputs_are_left_alone():
    w, dw = _random(SHAPE, np.float32, 0), _random(SHAPE, np.float32, 1)
    _, config = optim.adam(w, dw, {})
    saved = (w.copy(), dw.copy(), config["m"].copy(), config["v"].copy(), config["t"])
    next_w, new_config = _blocked_update.update_in_blocks(optim.adam, w, dw, config)
    assert next_w is not w and new_config["m"] is not config["m"]
    for before, now in zip(saved, (w, dw, config["m"], config["v"], config["t"])):
        np.testing.assert_array_equal(now, before)


def test_which_rules_qualify():
    for name in optim.UPDATE_RULES:
        assert _blocked_update.is_elementwise(getattr(optim, name))
        assert _blocked_update.is_elementwise(optim.scheduled_rule(name, 10))

    def my_rule(w, dw, config=None):
        return optim.adam(w, dw, config)

    assert not _blocked_update.is_elementwise(my_rule)
    assert not _blocked_update.is_elementwise(optim.scheduled_rule(my_rule, 10))


@pytest.mark.parametrize("case", ["small", "dtype", "shape", "wide rows", "strided", "state shape", "not arrays"])
def test_arrays_that_do_not_qualify_are_declined(case):
    w, dw, config = _random(SHAPE, np.float32, 0), _random(SHAPE, np.float32, 1), {}
    if case == "small":
        w, dw = w[:10], dw[:10]
    elif case == "dtype":
        dw = dw.astype(np.float64)
    elif case == "shape":
        dw = dw.reshape(SHAPE[::-1])
    elif case == "wide rows":
        w, dw = w.reshape(1, -1), dw.reshape(1, -1)
    elif case == "strided":
        w, dw = np.asfortranarray(w), np.asfortranarray(dw)
    elif case == "state shape":
        config = {"m": np.zeros(3, np.float32)}
    else:
        w = w.tolist()
    assert _blocked_update.update_in_blocks(optim.adam, w, dw, config) is None


class _BigLinear:
    """Softmax regression with a weight large enough for the block path (3072 x 100)."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.params = {"W": (1e-3 * rng.standard_normal((3072, 100))).astype(np.float32),
                       "b": np.zeros(100, np.float32)}

    def loss(self, X, y=None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(len(y)), y]).mean()
        probs[np.arange(len(y)), y] -= 1
        dscores = probs / len(y)
        return float(loss), {"W": X.T @ dscores, "b": dscores.sum(axis=0)}


def test_solver_training_is_the_same_with_and_without_blocks():
    rng = np.random.default_rng(1)
    data = {"X_train": rng.standard_normal((300, 3072)).astype(np.float32), "y_train": rng.integers(100, size=300),
            "X_val": rng.standard_normal((50, 3072)).astype(np.float32), "y_val": rng.integers(100, size=50)}

    def train(rule):
        model = _BigLinear()
        solver = Solver(model, data, update_rule=rule, optim_config={"learning_rate": 1e-3},
                        num_epochs=2, batch_size=50, verbose=False, seed=3)
        solver.train()
        return model, solver

    def adam_in_one_call(w, dw, config=None):  # not elementwise as far as the Solver knows
        return optim.adam(w, dw, config)

    blocked_model, blocked = train("adam")
    whole_model, whole = train(adam_in_one_call)
    assert blocked.loss_history == whole.loss_history
    for name in ("W", "b"):
        np.testing.assert_array_equal(blocked_model.params[name], whole_model.params[name])
        _same_config(whole.optim_configs[name], blocked.optim_configs[name])


def test_the_rule_sees_row_blocks_of_the_parameter():
    seen = []

    def spy(w, dw, config=None):
        seen.append((w.shape, config["m"].shape if "m" in config else None))
        return optim.adam(w, dw, config)

    spy.elementwise = True
    w, dw = _random(SHAPE, np.float32, 0), _random(SHAPE, np.float32, 1)
    _, config = optim.adam(w, dw, {})
    _blocked_update.update_in_blocks(spy, w, dw, config)
    assert len(seen) > 1 and sum(shape[0] for shape, _ in seen) == SHAPE[0]
    assert all(shape[1:] == SHAPE[1:] and m_shape == shape for shape, m_shape in seen)


def test_an_error_in_the_rule_is_left_to_the_whole_call():
    def broken(w, dw, config=None):
        raise ValueError(f"broken rule saw {w.shape}")

    w, dw = _random(SHAPE, np.float32, 0), _random(SHAPE, np.float32, 1)
    assert _blocked_update.update_in_blocks(broken, w, dw, {}) is None
