"""The Solver, on tiny models defined here (independent of cs231n.classifiers)."""

import copy
import os

import numpy as np
import pytest

from cs231n import solver as solver_module
from cs231n.solver import NonFiniteLossError, Solver, load_checkpoint


# ---- toy models --------------------------------------------------------------------------------

class SoftmaxModel:
    """Linear softmax classifier: scores = X W + b."""

    def __init__(self, D, C, reg=0.0, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        self.params = {"W": (0.01 * rng.standard_normal((D, C))).astype(dtype),
                       "b": np.zeros(C, dtype=dtype)}
        self.reg = reg

    def loss(self, X, y=None):
        W, b = self.params["W"], self.params["b"]
        scores = X @ W + b
        if y is None:
            return scores
        N = X.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(N), y].mean() + 0.5 * self.reg * np.sum(W * W)
        dscores = np.exp(log_probs)
        dscores[np.arange(N), y] -= 1
        dscores /= N
        return loss, {"W": X.T @ dscores + self.reg * W, "b": dscores.sum(axis=0)}


class ConstantGradModel:
    """One parameter k with gradient 1 at every step, so plain sgd moves k by -learning_rate.

    Always predicts class 0. Records the dropout seed it sees at every training call.
    """

    def __init__(self, dropout_param=None):
        self.params = {"k": np.zeros(1)}
        self.calls = 0
        if dropout_param is not None:
            self.dropout_param = dropout_param
        self.seen_seeds = []

    def loss(self, X, y=None):
        scores = np.zeros((X.shape[0], 2))
        scores[:, 0] = 1.0
        if y is None:
            return scores
        self.calls += 1
        if hasattr(self, "dropout_param"):
            self.seen_seeds.append(self.dropout_param.get("seed"))
        return 1.0, {"k": np.ones(1)}


class PeakModel(ConstantGradModel):
    """Validation accuracy is a chosen function of k (sgd with lr=1 drives k = -1, -2, ...).

    On x = 0..9 with all labels 0, it predicts class 0 for x < 10 - 3 |k + 3|, so the accuracy
    after step s (k = -s) is 0.4, 0.7, 1.0, 0.7, 0.4, 0.1, ... : it peaks at step 3.
    """

    def loss(self, X, y=None):
        if y is not None:
            return super().loss(X, y)
        cutoff = 10 - 3 * abs(self.params["k"][0] + 3)
        scores = np.zeros((X.shape[0], 2))
        scores[:, 0] = (X[:, 0] < cutoff).astype(float)
        scores[:, 1] = 0.5
        return scores


class NanModel(ConstantGradModel):
    """Its loss becomes NaN at the third training call."""

    def loss(self, X, y=None):
        out = super().loss(X, y)
        if y is not None and self.calls == 3:
            return float("nan"), out[1]
        return out


def blobs(n_per_class=100, seed=0):
    """Three well separated Gaussian blobs in 2-D, shuffled."""
    rng = np.random.default_rng(seed)
    centers = np.array([[4.0, 0.0], [-4.0, 4.0], [-4.0, -4.0]])
    X = np.concatenate([c + rng.standard_normal((n_per_class, 2)) for c in centers])
    y = np.repeat(np.arange(3), n_per_class)
    order = rng.permutation(len(y))
    return X[order], y[order]


def blob_data(seed=0):
    X, y = blobs(100, seed)
    return {"X_train": X[:240], "y_train": y[:240], "X_val": X[240:], "y_val": y[240:]}


def small_data(N=4, N_val=10):
    """Data for the scalar toy models: x = 0..N-1, all labels 0."""
    return {"X_train": np.arange(N, dtype=float)[:, None], "y_train": np.zeros(N, dtype=int),
            "X_val": np.arange(N_val, dtype=float)[:, None], "y_val": np.zeros(N_val, dtype=int)}


def quiet(**kw):
    kw.setdefault("verbose", False)
    return kw


# ---- training behaviour ------------------------------------------------------------------------

def test_softmax_reaches_high_accuracy_on_separable_data():
    model = SoftmaxModel(2, 3)
    s = Solver(model, blob_data(), **quiet(update_rule="adam", optim_config={"learning_rate": 0.1},
                                           num_epochs=5, batch_size=20, seed=0))
    s.train()
    assert s.best_val_acc >= 0.95
    assert s.check_accuracy(s.X_val, s.y_val) == s.best_val_acc  # best params are in the model
    assert s.loss_history[-1] < 0.5 * s.loss_history[0]


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
def test_every_rule_lowers_the_loss(rule):
    model = SoftmaxModel(2, 3)
    lr = 0.1 if rule in ("sgd", "sgd_momentum") else 0.01
    s = Solver(model, blob_data(), **quiet(update_rule=rule, optim_config={"learning_rate": lr},
                                           num_epochs=2, batch_size=20, seed=1))
    s.train()
    assert np.mean(s.loss_history[-5:]) < np.mean(s.loss_history[:5])


def test_best_params_are_restored():
    model = PeakModel()
    # N = batch_size = 4: one iteration per epoch, so check k follows -epoch.
    s = Solver(model, small_data(), **quiet(optim_config={"learning_rate": 1.0}, batch_size=4,
                                            num_epochs=6, seed=0))
    s.train()
    np.testing.assert_allclose(s.val_acc_history, [0.4, 0.7, 1.0, 0.7, 0.4, 0.1])
    assert s.best_val_acc == 1.0
    np.testing.assert_array_equal(model.params["k"], [-3.0])
    assert s.best_params["k"] is not model.params["k"]  # the model got a copy


class PeakNormModel(PeakModel):
    """PeakModel with a batchnorm-like running statistic that records the training step."""

    def __init__(self):
        super().__init__()
        self.bn_params = [{"mode": "train", "running_mean": np.zeros(1)}]

    def loss(self, X, y=None):
        if y is not None:
            self.bn_params[0]["running_mean"] = self.bn_params[0]["running_mean"] + 1.0
        return super().loss(X, y)


def test_best_params_come_back_with_their_running_statistics():
    model = PeakNormModel()
    s = Solver(model, small_data(), **quiet(optim_config={"learning_rate": 1.0}, batch_size=4,
                                            num_epochs=6, seed=0))
    s.train()
    np.testing.assert_array_equal(model.params["k"], [-3.0])
    # the best accuracy came after training step 3: the statistics of step 3, not of step 6
    np.testing.assert_array_equal(model.bn_params[0]["running_mean"], [3.0])


def test_best_params_kept_even_when_val_accuracy_is_zero():
    model = ConstantGradModel()
    data = small_data()
    data["y_val"] = np.ones(10, dtype=int)  # the model always predicts 0: accuracy 0
    s = Solver(model, data, **quiet(optim_config={"learning_rate": 1.0}, batch_size=4, num_epochs=3))
    s.train()
    assert s.val_acc_history == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(model.params["k"], [-1.0])  # the first check's params


def test_lr_decay_applied_per_epoch():
    # N=4, batch_size=2: two iterations per epoch; gradient 1, so each step moves k by the lr.
    s = Solver(ConstantGradModel(), small_data(4), **quiet(optim_config={"learning_rate": 1.0},
                                                           lr_decay=0.5, batch_size=2, num_epochs=3))
    steps = []
    original_step = s._step

    def recording_step():
        before = s.model.params["k"][0]
        original_step()
        steps.append(before - s.model.params["k"][0])

    s._step = recording_step
    s.train()
    assert s.optim_configs["k"]["learning_rate"] == pytest.approx(0.5**3)
    np.testing.assert_allclose(steps, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25])


@pytest.mark.parametrize("N, batch_size, num_epochs, n_checks", [
    (10, 3, 4, 5),   # 3 iterations per epoch: after iteration 1, then each epoch's end
    (4, 4, 3, 3),    # 1 iteration per epoch: the first iteration is also the first epoch's end
    (3, 10, 2, 2),   # N < batch_size: still one iteration per epoch
    (10, 3, 0, 0),   # no training at all
])
def test_accuracy_check_schedule(N, batch_size, num_epochs, n_checks):
    model = ConstantGradModel()
    s = Solver(model, small_data(N), **quiet(batch_size=batch_size, num_epochs=num_epochs))
    s.train()
    iterations_per_epoch = max(N // batch_size, 1)
    assert len(s.loss_history) == num_epochs * iterations_per_epoch
    assert len(s.train_acc_history) == len(s.val_acc_history) == n_checks
    assert s.epoch == num_epochs


def test_no_epochs_leaves_params_alone():
    model = ConstantGradModel()
    model.params["k"][:] = 5.0
    Solver(model, small_data(), **quiet(num_epochs=0)).train()
    np.testing.assert_array_equal(model.params["k"], [5.0])


def test_optimizer_state_is_per_parameter():
    model = SoftmaxModel(2, 3)
    s = Solver(model, blob_data(), **quiet(update_rule="sgd_momentum", num_epochs=1, batch_size=60))
    s.train()
    assert set(s.optim_configs) == {"W", "b"}
    assert s.optim_configs["W"] is not s.optim_configs["b"]
    assert s.optim_configs["W"]["velocity"].shape == (2, 3)
    assert s.optim_configs["b"]["velocity"].shape == (3,)


def test_float32_model_stays_float32():
    model = SoftmaxModel(2, 3, dtype=np.float32)
    data = {k: (v.astype(np.float32) if k.startswith("X") else v) for k, v in blob_data().items()}
    s = Solver(model, data, **quiet(update_rule="adam", num_epochs=1, batch_size=40))
    s.train()
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert all(c["m"].dtype == np.float32 for c in s.optim_configs.values())


def test_callers_data_and_optim_config_not_modified():
    data = blob_data()
    saved = copy.deepcopy(data)
    optim_config = {"learning_rate": 0.05}
    s = Solver(SoftmaxModel(2, 3), data, **quiet(update_rule="adam", optim_config=optim_config,
                                                 lr_decay=0.5, num_epochs=2, batch_size=40))
    s.train()
    assert optim_config == {"learning_rate": 0.05}
    for k in saved:
        np.testing.assert_array_equal(data[k], saved[k])


# ---- randomness --------------------------------------------------------------------------------

def run_softmax(**kw):
    s = Solver(SoftmaxModel(2, 3), blob_data(), **quiet(update_rule="sgd", num_epochs=2, batch_size=30,
                                                        num_train_samples=50, num_val_samples=20, **kw))
    s.train()
    return s


def test_same_seed_same_run():
    a, b = run_softmax(seed=7), run_softmax(seed=7)
    assert a.loss_history == b.loss_history
    assert a.train_acc_history == b.train_acc_history and a.val_acc_history == b.val_acc_history
    np.testing.assert_array_equal(a.model.params["W"], b.model.params["W"])


def test_different_seeds_differ():
    assert run_softmax(seed=7).loss_history != run_softmax(seed=8).loss_history


def test_same_rng_seed_same_run():
    a = run_softmax(rng=np.random.default_rng(3))
    b = run_softmax(rng=np.random.default_rng(3))
    assert a.loss_history == b.loss_history


def test_global_random_state_untouched():
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    run_softmax()
    run_softmax(seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_seed_reseeds_dropout_each_step_and_restores_it():
    def run(**kw):
        model = ConstantGradModel(dropout_param={"mode": "train", "p": 0.5, "seed": 123})
        Solver(model, small_data(4), **quiet(batch_size=2, num_epochs=3, **kw)).train()
        return model

    a, b = run(seed=0), run(seed=0)
    assert len(a.seen_seeds) == 6 and len(set(a.seen_seeds)) == 6  # a fresh seed every step
    assert all(isinstance(v, int) and v >= 0 for v in a.seen_seeds)
    assert a.seen_seeds == b.seen_seeds  # reproducible
    assert run(seed=1).seen_seeds != a.seen_seeds
    assert a.dropout_param["seed"] == 123  # put back after training
    assert run().seen_seeds == [123] * 6  # no seed given: the model's own seed is left alone


def test_seed_added_for_dropout_is_removed_after_training():
    model = ConstantGradModel(dropout_param={"mode": "train", "p": 0.5})
    Solver(model, small_data(4), **quiet(batch_size=2, num_epochs=1, seed=0)).train()
    assert all(v is not None for v in model.seen_seeds)
    assert "seed" not in model.dropout_param


def test_model_without_dropout_is_not_given_a_seed():
    model = ConstantGradModel(dropout_param={})
    Solver(model, small_data(4), **quiet(batch_size=2, num_epochs=1, seed=0)).train()
    assert model.seen_seeds == [None, None] and model.dropout_param == {}


def test_seed_and_rng_together_raise():
    with pytest.raises(ValueError, match="seed or rng"):
        Solver(ConstantGradModel(), small_data(), seed=0, rng=np.random.default_rng(0))


def test_bad_rng_raises():
    with pytest.raises(TypeError, match="rng"):
        Solver(ConstantGradModel(), small_data(), rng=0)


def test_negative_seed_raises():
    with pytest.raises(ValueError, match="seed"):
        Solver(ConstantGradModel(), small_data(), seed=-1)


# ---- update rules ------------------------------------------------------------------------------

def test_unknown_update_rule_raises():
    with pytest.raises(ValueError, match="adagrad"):
        Solver(ConstantGradModel(), small_data(), update_rule="adagrad")


def test_private_helper_is_not_an_update_rule():
    with pytest.raises(ValueError, match="_prepare"):
        Solver(ConstantGradModel(), small_data(), update_rule="_prepare")


def test_update_rule_of_wrong_type_raises():
    with pytest.raises(TypeError, match="update_rule"):
        Solver(ConstantGradModel(), small_data(), update_rule=3)


def test_callable_update_rule():
    calls = []

    def halve_step(w, dw, config=None):
        config = {} if config is None else config
        calls.append(config.get("tag"))
        return w - 0.5 * dw, config

    model = ConstantGradModel()
    s = Solver(model, small_data(4), **quiet(update_rule=halve_step, optim_config={"tag": "x"},
                                             batch_size=2, num_epochs=2))
    s.train()
    assert calls == ["x"] * 4
    assert s.update_rule_name == "halve_step"
    np.testing.assert_allclose(s.best_params["k"], [-0.5])


# ---- failures and bad arguments ----------------------------------------------------------------

def test_non_finite_loss_stops_with_clear_error():
    model = NanModel()
    s = Solver(model, small_data(4), **quiet(optim_config={"learning_rate": 0.5}, batch_size=2,
                                             num_epochs=5))
    with pytest.raises(NonFiniteLossError, match=r"iteration 3 .*smaller learning_rate") as info:
        s.train()
    assert isinstance(info.value, FloatingPointError)
    assert info.value.iteration == 3 and np.isnan(info.value.loss)
    assert "0.5" in str(info.value)
    assert len(s.loss_history) == 2 and model.calls == 3


def test_unknown_keywords_raise_naming_them():
    with pytest.raises(ValueError, match="bacth_size, learnig_rate"):
        Solver(ConstantGradModel(), small_data(), learnig_rate=1e-3, bacth_size=10)


@pytest.mark.parametrize("key, value, error", [
    ("batch_size", 0, ValueError),
    ("batch_size", 2.5, TypeError),
    ("num_epochs", -1, ValueError),
    ("print_every", 0, ValueError),
    ("num_train_samples", 0, ValueError),
    ("lr_decay", 0.0, ValueError),
    ("optim_config", [("learning_rate", 1.0)], TypeError),
])
def test_bad_option_raises(key, value, error):
    with pytest.raises(error, match=key):
        Solver(ConstantGradModel(), small_data(), **{key: value})


def test_missing_data_key_raises():
    data = small_data()
    del data["y_val"]
    with pytest.raises(ValueError, match="y_val"):
        Solver(ConstantGradModel(), data)


def test_mismatched_train_lengths_raise():
    data = small_data()
    data["y_train"] = np.zeros(3, dtype=int)
    with pytest.raises(ValueError, match="y_train"):
        Solver(ConstantGradModel(), data)


def test_mismatched_feature_shapes_raise():
    data = small_data()
    data["X_val"] = np.zeros((10, 2))
    with pytest.raises(ValueError, match="X_val"):
        Solver(ConstantGradModel(), data)


def test_float_labels_raise():
    data = small_data()
    data["y_train"] = data["y_train"].astype(float)
    with pytest.raises(TypeError, match="y_train"):
        Solver(ConstantGradModel(), data)


def test_model_without_params_raises():
    with pytest.raises(TypeError, match="params"):
        Solver(object(), small_data())


def test_missing_gradient_is_reported():
    model = ConstantGradModel()
    model.params["extra"] = np.zeros(2)
    s = Solver(model, small_data(), **quiet(batch_size=2, num_epochs=1))
    with pytest.raises(KeyError, match="extra"):
        s.train()


# ---- check_accuracy ----------------------------------------------------------------------------

def test_check_accuracy_counts_all_batches():
    s = Solver(ConstantGradModel(), small_data(), **quiet())
    y = np.array([0, 1, 0, 1, 1, 0, 0, 0, 1, 1])  # the model predicts 0 everywhere: 5 / 10
    X = np.zeros((10, 1))
    assert s.check_accuracy(X, y, batch_size=3) == 0.5
    assert s.check_accuracy(X, y, num_samples=10, batch_size=100) == 0.5


def test_check_accuracy_subsamples_without_replacement():
    s = Solver(ConstantGradModel(), small_data(), **quiet(seed=0))
    X = np.zeros((10, 1))
    y = np.array([0] * 5 + [1] * 5)
    # 9 of the 10, without replacement: 4 or 5 zeros among them, so 4/9 or 5/9.
    assert s.check_accuracy(X, y, num_samples=9) in (4 / 9, 5 / 9)


# ---- output ------------------------------------------------------------------------------------

def test_verbose_false_prints_nothing(capsys):
    run_softmax(seed=0)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_writes_epoch_lines(capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    s = Solver(ConstantGradModel(), small_data(4), batch_size=2, num_epochs=2, print_every=1)
    s.train()
    out, _ = capsys.readouterr()
    assert "(Epoch 1 / 2) train acc: 1.000000; val_acc: 1.000000" in out
    assert "(Epoch 2 / 2)" in out
    assert "(Iteration" not in out  # the bar shows the loss instead


def test_tqdm_disable_writes_iteration_lines(capsys, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    s = Solver(ConstantGradModel(), small_data(4), batch_size=1, num_epochs=1, print_every=2)
    s.train()
    out, err = capsys.readouterr()
    assert "(Iteration 1 / 4) loss: 1.000000" in out
    assert "(Iteration 3 / 4)" in out and "(Iteration 2 / 4)" not in out
    assert "(Iteration 4 / 4)" in out  # the last iteration is always shown
    assert "(Epoch 1 / 1)" in out
    assert "Training" not in err  # no bar


# ---- checkpoints -------------------------------------------------------------------------------

def train_with_checkpoints(tmp_path, **kw):
    model = ConstantGradModel()
    s = Solver(model, small_data(4), **quiet(update_rule="sgd_momentum",
                                             optim_config={"learning_rate": 1.0, "momentum": 0.5},
                                             batch_size=2, num_epochs=2,
                                             checkpoint_name=str(tmp_path / "run"), **kw))
    s.train()
    return s


def test_checkpoint_files_and_no_temp_files(tmp_path):
    train_with_checkpoints(tmp_path)
    # checks after iteration 1 (epoch 0) and at the end of epochs 1 and 2
    assert sorted(os.listdir(tmp_path)) == ["run_epoch_0.npz", "run_epoch_1.npz", "run_epoch_2.npz"]


def test_checkpoint_round_trip(tmp_path):
    s = train_with_checkpoints(tmp_path, seed=4)
    # sgd_momentum, lr 1, mu 0.5, gradient 1: v = -1, -1.5, -1.75, -1.875; k = -1, -2.5, -4.25, -6.125
    fresh = ConstantGradModel()
    fresh.params["k"] = np.full(1, 99.0)
    meta = load_checkpoint(tmp_path / "run_epoch_2.npz", model=fresh)
    np.testing.assert_allclose(fresh.params["k"], [-6.125])
    np.testing.assert_allclose(meta["params"]["k"], [-6.125])
    np.testing.assert_allclose(meta["optim_configs"]["k"]["velocity"], [-1.875])
    assert meta["optim_configs"]["k"]["learning_rate"] == 1.0
    assert meta["optim_configs"]["k"]["momentum"] == 0.5
    assert meta["epoch"] == 2 and meta["iteration"] == 4
    assert meta["model_class"] == "ConstantGradModel"
    assert meta["update_rule"] == "sgd_momentum"
    assert meta["seed"] == 4 and meta["batch_size"] == 2
    assert meta["loss_history"] == s.loss_history
    assert meta["val_acc_history"] == s.val_acc_history
    assert meta["train_acc_history"] == s.train_acc_history
    early = load_checkpoint(tmp_path / "run_epoch_0.npz")
    np.testing.assert_allclose(early["params"]["k"], [-1.0])
    assert early["epoch"] == 0 and early["loss_history"] == [1.0]


def test_checkpoint_loads_without_pickle(tmp_path):
    train_with_checkpoints(tmp_path)
    with np.load(tmp_path / "run_epoch_1.npz", allow_pickle=False) as f:
        for name in f.files:
            assert f[name].dtype != object


def test_checkpoint_keeps_model_dtype(tmp_path):
    train_with_checkpoints(tmp_path)
    model = ConstantGradModel()
    model.params["k"] = np.zeros(1, dtype=np.float32)
    load_checkpoint(tmp_path / "run_epoch_1.npz", model=model)
    assert model.params["k"].dtype == np.float32


def test_checkpoint_key_mismatch_raises(tmp_path):
    train_with_checkpoints(tmp_path)
    with pytest.raises(ValueError, match="do not match"):
        load_checkpoint(tmp_path / "run_epoch_1.npz", model=SoftmaxModel(2, 3))


def test_checkpoint_shape_mismatch_raises(tmp_path):
    train_with_checkpoints(tmp_path)
    model = ConstantGradModel()
    model.params["k"] = np.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        load_checkpoint(tmp_path / "run_epoch_1.npz", model=model)
    np.testing.assert_array_equal(model.params["k"], np.zeros(3))  # left as it was


def test_non_checkpoint_file_raises(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(2))
    with pytest.raises(ValueError, match="not a Solver checkpoint"):
        load_checkpoint(path)


def test_failed_checkpoint_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "run_epoch_0.npz"
    target.write_bytes(b"previous checkpoint")

    def failing_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(solver_module.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        train_with_checkpoints(tmp_path)
    assert os.listdir(tmp_path) == ["run_epoch_0.npz"]
    assert target.read_bytes() == b"previous checkpoint"


def test_checkpoint_folder_must_exist(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        Solver(ConstantGradModel(), small_data(), checkpoint_name=str(tmp_path / "nope" / "run"))


# ---- damaged and edited checkpoints: every error names the file and says what to do ----------

def _tamper(path, edit_meta=None, **arrays):
    """Rewrite checkpoint ``path`` with its metadata passed through ``edit_meta`` and ``arrays`` replaced."""
    import json
    with np.load(path, allow_pickle=False) as f:
        content = {k: f[k] for k in f.files}
    if edit_meta is not None:
        meta = json.loads(str(content["__metadata__"]))
        edited = edit_meta(meta)
        content["__metadata__"] = np.array(edited if isinstance(edited, str) else json.dumps(edited))
    content.update(arrays)
    np.savez(path, **content)
    return path


def _set(key, value):
    def edit(meta):
        meta[key] = value
        return meta
    return edit


def _drop(key):
    def edit(meta):
        del meta[key]
        return meta
    return edit


@pytest.mark.parametrize("edit, message", [
    (lambda m: "{not json", r"metadata is not valid JSON"),
    (lambda m: [1, 2], r"metadata is a JSON list, not an object"),
    (_set("epoch", "ten"), r"metadata 'epoch' must be an integer >= 0, got \"ten\""),
    (_set("epoch", -1), r"'epoch' must be an integer >= 0"),
    (_set("epoch", True), r"'epoch' must be an integer >= 0, got true"),
    (_set("iteration", 2.5), r"'iteration' must be an integer"),
    (_set("loss_history", [1.0, "x"]), r"'loss_history' must be a list of finite numbers"),
    (_set("best_val_acc", 7), r"'best_val_acc' must be a number in \[0, 1\]"),
    (_set("optim_state", []), r"'optim_state' must be an object of objects"),
    (_set("optim_state", {"k": {}, "extra": {}}), r"optimizer state for .*'extra'.* but parameters \['k'\]"),
    (_set("optim_arrays", {"optim/0": ["k"]}), r"'optim_arrays' must be an object of \[parameter, key\] pairs"),
    (_set("optim_arrays", {"optim/9": ["k", "velocity"]}), r"optimizer array 'optim/9' of parameter 'k' is missing"),
    (_drop("optim_state"), r"the metadata has no 'optim_state'"),
    (_set("format", "something-else"), r"not a Solver checkpoint \(format 'something-else'\)"),
    (_set("version", "1"), r"checkpoint version '1' is not 1"),
], ids=["not-json", "json-list", "epoch-ten", "epoch-negative", "epoch-bool", "iteration-float", "history-str",
        "acc-7", "state-list", "state-extra", "arrays-pair", "arrays-missing", "no-state", "format", "version-str"])
def test_tampered_metadata_names_the_file_and_says_to_resave(tmp_path, edit, message):
    train_with_checkpoints(tmp_path)
    path = _tamper(tmp_path / "run_epoch_1.npz", edit)
    model = ConstantGradModel()
    before = model.params["k"].copy()
    with pytest.raises(solver_module.CheckpointError, match=message) as info:
        load_checkpoint(path, model=model)
    assert str(path) in str(info.value) and "re-save it" in str(info.value)
    np.testing.assert_array_equal(model.params["k"], before)  # the model is left as it was


def test_checkpoint_from_a_newer_version_says_to_update(tmp_path):
    train_with_checkpoints(tmp_path)
    path = _tamper(tmp_path / "run_epoch_1.npz", _set("version", 2))
    with pytest.raises(ValueError, match=r"written by a newer cs231n \(checkpoint version 2"):
        load_checkpoint(path)


def test_metadata_that_is_not_a_string_is_refused(tmp_path):
    train_with_checkpoints(tmp_path)
    path = _tamper(tmp_path / "run_epoch_1.npz", __metadata__=np.zeros(3))
    with pytest.raises(ValueError, match=r"metadata is a float64 array of shape \(3,\), not a JSON string"):
        load_checkpoint(path)


def test_complex_parameters_are_refused_not_cast(tmp_path):
    train_with_checkpoints(tmp_path)
    path = _tamper(tmp_path / "run_epoch_1.npz", **{"param/k": np.array([1 + 2j])})
    model = ConstantGradModel()
    with pytest.raises(ValueError, match=r"parameter 'k' holds complex values") as info:
        load_checkpoint(path, model=model)
    assert str(path) in str(info.value)
    path = _tamper(path, **{"param/k": np.array([1.0]), "optim/0": np.array([1j])})
    with pytest.raises(ValueError, match=r"optimizer state k/velocity holds complex values"):
        load_checkpoint(path, model=model)


def test_npy_file_passed_as_a_checkpoint(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"weights\.npy: a single \.npy array \(float64, shape \(2, 3\)\), "
                                         r"not a Solver checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"random bytes, not a zip", "truncated", "pickled"])
def test_unreadable_file_names_itself(tmp_path, content):
    path = tmp_path / "run_epoch_1.npz"
    if content == "truncated":
        train_with_checkpoints(tmp_path)
        path.write_bytes(path.read_bytes()[:300])
    elif content == "pickled":
        np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
        path = tmp_path / "obj.npy"
    else:
        path.write_bytes(content)
    with pytest.raises(solver_module.CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "re-save it" in str(info.value)


def test_missing_checkpoint_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_checkpoint(tmp_path / "nope.npz")
