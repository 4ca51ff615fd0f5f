"""The Solver: trains a classification model with minibatch gradient descent.

A model is any object with
- ``model.params``: dict mapping parameter names to numpy arrays;
- ``model.loss(X, y=None)``: with labels, returns ``(loss, grads)`` where ``grads`` has the same
  keys as ``params``; without labels (test time), returns class scores of shape (N, C).

Typical use::

    solver = Solver(model, data, update_rule='sgd', optim_config={'learning_rate': 1e-3},
                    lr_decay=0.95, num_epochs=10, batch_size=100, print_every=100, seed=0)
    solver.train()
    # model.params now holds the parameters with the best validation accuracy;
    # solver.loss_history, solver.train_acc_history, solver.val_acc_history hold the curves.

Randomness: with ``seed`` (int) or ``rng`` (numpy Generator) a whole run is reproducible: the
minibatches, the subsamples used to measure accuracy and, for models with dropout, the dropout
masks. For the last, before each step the Solver writes a fresh integer drawn from its own
generator into ``model.dropout_param['seed']`` when the model has a ``dropout_param`` dict that
holds 'p' or 'seed' (a model using dropout); the model's original value is put back when
``train()`` returns. Without seed or rng the Solver draws from a fresh ``np.random.default_rng()``
and leaves dropout alone. The Solver itself never uses numpy's global random state (dropout
reseeds it from dropout_param['seed'], as in the original assignment).

Updates: the Solver calls the update rule once per parameter with ``(w, dw, config)``. For the
rules of cs231n.optim, which are elementwise, a large parameter (from 262,144 entries, e.g. the
ConvNet's 8192 x 500 weight) is instead updated in blocks of rows, each call seeing ``w[a:b]``,
``dw[a:b]`` and the same rows of the state arrays, on the BLAS threads: the results are identical
bit for bit, and a textbook rule's temporaries stay in the CPU cache (see cs231n/_blocked_update.py).

Output: ``verbose=True`` shows a progress bar (tqdm.auto: a widget in notebooks, text in a
terminal) whose postfix shows the loss, refreshed every ``print_every`` iterations, and the latest
accuracies, plus one line per accuracy check. Setting the environment variable ``TQDM_DISABLE=1``
hides the bar; the Solver then writes the loss as a line every ``print_every`` iterations instead.
``verbose=False`` prints nothing.

Checkpoints (``checkpoint_name='path/prefix'``) are written at every accuracy check as
``path/prefix_epoch_{epoch}.npz``, without pickle: the parameters, the optimizer state arrays and a
JSON metadata string, written to a temporary file in the same directory and then renamed, so a
checkpoint file is always complete. ``load_checkpoint`` (from cs231n.checkpoint) reads one back.
"""

import copy
import json
import numbers
import os

import numpy as np
from tqdm.auto import tqdm

from . import _blocked_update, _validate, optim
from .checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, load_checkpoint  # noqa: F401
from .checkpoint import META_KEY as _META_KEY
from .checkpoint import PARAM_PREFIX as _PARAM_PREFIX
from .checkpoint import write_atomic as _write_atomic


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; ``iteration`` and ``loss`` say when and what."""

    def __init__(self, message, iteration, loss):
        super().__init__(message)
        self.iteration = iteration
        self.loss = loss


def _update_rules():
    """Names of the update rules of cs231n.optim."""
    return sorted(optim.UPDATE_RULES)


def _int_option(value, name, minimum, allow_none=False):
    return _validate.int_value(value, name, minimum, allow_none=allow_none)


def _check_xy(X, y, x_name, y_name):
    if not isinstance(X, np.ndarray) or not isinstance(y, np.ndarray):
        bad = x_name if not isinstance(X, np.ndarray) else y_name
        raise TypeError(f"{bad} must be a numpy array, got {type(X if bad == x_name else y).__name__}")
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError(f"{x_name} must hold at least one example, got shape {X.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"{y_name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"{y_name} must have shape ({X.shape[0]},), one label per row of {x_name} "
                         f"(shape {X.shape}), got {y.shape}")


def _check_data(data):
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict with X_train, y_train, X_val, y_val, got {type(data).__name__}")
    missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
    if missing:
        raise ValueError(f"data is missing the key(s) {', '.join(missing)}")
    _check_xy(data["X_train"], data["y_train"], "X_train", "y_train")
    _check_xy(data["X_val"], data["y_val"], "X_val", "y_val")
    if data["X_train"].shape[1:] != data["X_val"].shape[1:]:
        raise ValueError(f"X_train examples have shape {data['X_train'].shape[1:]} but X_val examples "
                         f"have shape {data['X_val'].shape[1:]}")


def _env_disables_bar():
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def _jsonable(value):
    """``value`` as plain JSON data (numpy scalars -> Python numbers, arrays -> lists)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in checkpoint metadata")


class Solver:
    """Trains a model with minibatch gradient descent; see the module docstring.

    Required arguments:
    - model: object with ``params`` and ``loss(X, y=None)`` as described above.
    - data: dict with 'X_train' (N_train, ...), 'y_train' (N_train,), 'X_val' (N_val, ...),
      'y_val' (N_val,); integer labels. Other keys are ignored. The arrays are never modified.

    Optional keywords:
    - update_rule: name of a rule in cs231n.optim ('sgd', 'sgd_momentum', 'rmsprop', 'adam') or a
      callable with the same signature. Default 'sgd'.
    - optim_config: dict of hyperparameters for the update rule. Each parameter gets its own deep
      copy, which also holds that parameter's optimizer state; the caller's dict is not changed.
    - lr_decay: after each epoch every parameter's learning_rate is multiplied by this (default 1).
    - batch_size: minibatch size (default 100), sampled with replacement.
    - num_epochs: epochs to train for (default 10); an epoch is max(N_train // batch_size, 1) steps.
    - num_train_samples: training examples subsampled to measure train accuracy (default 1000,
      None for all). num_val_samples: the same for validation (default None: all).
    - checkpoint_name: if given, a checkpoint is written at every accuracy check.
    - print_every: the loss shown is refreshed every this many iterations (default 10).
    - verbose: False prints nothing (default True).
    - seed or rng: make the run reproducible (see the module docstring); not both.
    """

    def __init__(self, model, data, **kwargs):
        if not isinstance(getattr(model, "params", None), dict) or not callable(getattr(model, "loss", None)):
            raise TypeError("model must have a dict `params` and a method `loss(X, y=None)`")
        _check_data(data)
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        update_rule = kwargs.pop("update_rule", "sgd")
        optim_config = kwargs.pop("optim_config", None)
        self.lr_decay = kwargs.pop("lr_decay", 1.0)
        self.batch_size = kwargs.pop("batch_size", 100)
        self.num_epochs = kwargs.pop("num_epochs", 10)
        self.num_train_samples = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples = kwargs.pop("num_val_samples", None)
        self.checkpoint_name = kwargs.pop("checkpoint_name", None)
        self.print_every = kwargs.pop("print_every", 10)
        self.verbose = kwargs.pop("verbose", True)
        self.seed = kwargs.pop("seed", None)
        rng = kwargs.pop("rng", None)
        if kwargs:
            raise ValueError(f"Unrecognized arguments {', '.join(sorted(kwargs))}")

        if isinstance(update_rule, str):
            if update_rule not in _update_rules():
                raise ValueError(f"Invalid update_rule {update_rule!r}; choose one of "
                                 f"{', '.join(_update_rules())} or pass a callable")
            self.update_rule_name = update_rule
            self.update_rule = getattr(optim, update_rule)
        elif callable(update_rule):
            self.update_rule_name = getattr(update_rule, "__name__", type(update_rule).__name__)
            self.update_rule = update_rule
        else:
            raise TypeError(f"update_rule must be a name in cs231n.optim or a callable, got {update_rule!r}")
        if optim_config is None:
            optim_config = {}
        if not isinstance(optim_config, dict):
            raise TypeError(f"optim_config must be a dict, got {type(optim_config).__name__}")
        self.optim_config = copy.deepcopy(optim_config)

        if isinstance(self.lr_decay, bool) or not isinstance(self.lr_decay, numbers.Real) \
                or not 0 < self.lr_decay < np.inf:
            raise ValueError(f"lr_decay must be a positive number, got {self.lr_decay!r}")
        self.batch_size = _int_option(self.batch_size, "batch_size", 1)
        self.num_epochs = _int_option(self.num_epochs, "num_epochs", 0)
        self.num_train_samples = _int_option(self.num_train_samples, "num_train_samples", 1, True)
        self.num_val_samples = _int_option(self.num_val_samples, "num_val_samples", 1, True)
        self.print_every = _int_option(self.print_every, "print_every", 1)
        if self.checkpoint_name is not None:
            self.checkpoint_name = os.fspath(self.checkpoint_name)
            folder = os.path.dirname(self.checkpoint_name) or "."
            if not os.path.isdir(folder):
                raise ValueError(f"checkpoint_name {self.checkpoint_name!r}: folder {folder!r} does not exist")

        if rng is not None and self.seed is not None:
            raise ValueError("pass either seed or rng, not both")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if self.seed is not None:
            self.seed = _int_option(self.seed, "seed", 0)
            rng = np.random.default_rng(self.seed)
        self._reseed_dropout = rng is not None
        if rng is None:
            rng = np.random.default_rng()
        self.rng = rng
        # Separate streams, so e.g. num_train_samples does not change which minibatches are drawn.
        seeds = rng.integers(2**63, size=3)
        self._batch_rng, self._eval_rng, self._dropout_rng = (np.random.default_rng(s) for s in seeds)

        self._reset()

    def _reset(self):
        """Set up the bookkeeping; called by __init__, not meant to be called by hand."""
        self.epoch = 0
        self.iteration = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.best_norm_stats = []
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.optim_configs = {p: copy.deepcopy(self.optim_config) for p in self.model.params}

    def _step(self):
        """Make one gradient update on a random minibatch; called by train()."""
        num_train = self.X_train.shape[0]
        batch_mask = self._batch_rng.integers(num_train, size=self.batch_size)
        X_batch, y_batch = self.X_train[batch_mask], self.y_train[batch_mask]

        dropout_param = getattr(self.model, "dropout_param", None)
        if self._reseed_dropout and isinstance(dropout_param, dict) and (
                "p" in dropout_param or "seed" in dropout_param):
            dropout_param["seed"] = int(self._dropout_rng.integers(2**31 - 1))

        loss, grads = self.model.loss(X_batch, y_batch)
        self.iteration += 1
        if not np.isfinite(loss):
            lrs = sorted({c.get("learning_rate") for c in self.optim_configs.values()} - {None})
            lr_text = f" (learning_rate {lrs[0]:g})" if len(lrs) == 1 else ""
            raise NonFiniteLossError(
                f"the loss became {float(loss)} at iteration {self.iteration} (epoch {self.epoch}); "
                f"training stopped. The learning rate{lr_text} is probably too large: try a smaller "
                "learning_rate in optim_config (or check the weight scale / regularization).",
                self.iteration, float(loss))
        self.loss_history.append(float(loss))

        self._update_params(grads)

    def _update_params(self, grads):
        """Replace every parameter with the update rule's next value; called by _step()."""
        blocked = _blocked_update.is_elementwise(self.update_rule)
        for p, w in self.model.params.items():
            if p not in grads:
                raise KeyError(f"model.loss returned no gradient for parameter {p!r}")
            result = None
            if blocked:  # the same result, computed in cache-sized blocks on the BLAS threads
                result = _blocked_update.update_in_blocks(self.update_rule, w, grads[p],
                                                          self.optim_configs[p])
            if result is None:
                result = self.update_rule(w, grads[p], self.optim_configs[p])
            next_w, self.optim_configs[p] = result
            self.model.params[p] = next_w

    def checkpoint_path(self, epoch=None):
        """File name of the checkpoint for ``epoch`` (default: the current epoch)."""
        epoch = self.epoch if epoch is None else epoch
        return f"{self.checkpoint_name}_epoch_{epoch}.npz"

    def _save_checkpoint(self):
        if self.checkpoint_name is None:
            return
        arrays = {_PARAM_PREFIX + k: np.asarray(v) for k, v in self.model.params.items()}
        optim_state, optim_arrays = {}, {}
        for p, config in self.optim_configs.items():
            optim_state[p] = {}
            for key, value in config.items():
                if isinstance(value, np.ndarray):
                    name = f"optim/{len(optim_arrays)}"
                    arrays[name] = value
                    optim_arrays[name] = [p, key]
                else:
                    optim_state[p][key] = value
        metadata = {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "model_class": type(self.model).__name__,
            "update_rule": self.update_rule_name,
            "optim_config": self.optim_config,
            "optim_state": optim_state, "optim_arrays": optim_arrays,
            "learning_rate": {p: c.get("learning_rate") for p, c in self.optim_configs.items()},
            "lr_decay": self.lr_decay, "batch_size": self.batch_size, "num_epochs": self.num_epochs,
            "num_train_samples": self.num_train_samples, "num_val_samples": self.num_val_samples,
            "seed": self.seed, "epoch": self.epoch, "iteration": self.iteration,
            "best_val_acc": self.best_val_acc,
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
        }
        arrays[_META_KEY] = np.array(json.dumps(_jsonable(metadata)))
        _write_atomic(self.checkpoint_path(), arrays)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of examples the model classifies correctly.

        Inputs:
        - X: data of shape (N, ...); y: integer labels of shape (N,).
        - num_samples: if given and smaller than N, measure on that many examples drawn at
          random without replacement.
        - batch_size: examples per forward pass (bounds memory use).

        Returns: accuracy, a float in [0, 1].
        """
        _check_xy(X, y, "X", "y")
        num_samples = _int_option(num_samples, "num_samples", 1, allow_none=True)
        batch_size = _int_option(batch_size, "batch_size", 1)
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = self._eval_rng.choice(N, num_samples, replace=False)
            N, X, y = num_samples, X[mask], y[mask]

        y_pred = []
        for start in range(0, N, batch_size):
            scores = self.model.loss(X[start:start + batch_size])
            y_pred.append(np.argmax(scores, axis=1))
        return float(np.mean(np.concatenate(y_pred) == y))

    def train(self):
        """Run the optimization; afterwards model.params holds the best parameters found."""
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        show_bar = self.verbose and not _env_disables_bar()
        dropout_param = getattr(self.model, "dropout_param", None)
        saved_seed = dropout_param.get("seed") if isinstance(dropout_param, dict) else None
        bar = tqdm(total=num_iterations, desc="Training", unit="it", disable=not show_bar, leave=True)
        postfix = {}
        try:
            for t in range(num_iterations):
                self._step()
                bar.update(1)
                if t % self.print_every == 0 or t == num_iterations - 1:
                    postfix["loss"] = f"{self.loss_history[-1]:.4f}"
                    bar.set_postfix(postfix, refresh=False)
                    if self.verbose and not show_bar:
                        tqdm.write(f"(Iteration {t + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}")

                # Each epoch ends with a learning-rate decay.
                epoch_end = (t + 1) % iterations_per_epoch == 0
                if epoch_end:
                    self.epoch += 1
                    for config in self.optim_configs.values():
                        if "learning_rate" in config:
                            config["learning_rate"] *= self.lr_decay

                # Accuracy is checked after the first iteration, the last, and each epoch's end.
                if t == 0 or t == num_iterations - 1 or epoch_end:
                    train_acc = self.check_accuracy(self.X_train, self.y_train,
                                                    num_samples=self.num_train_samples)
                    val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
                    self.train_acc_history.append(train_acc)
                    self.val_acc_history.append(val_acc)
                    if not self.best_params or val_acc > self.best_val_acc:
                        self.best_val_acc = val_acc
                        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
                        self.best_norm_stats = _running_stats(self.model)
                    self._save_checkpoint()
                    postfix.update(train_acc=f"{train_acc:.3f}", val_acc=f"{val_acc:.3f}")
                    bar.set_postfix(postfix)
                    if self.verbose:
                        tqdm.write(f"(Epoch {self.epoch} / {self.num_epochs}) "
                                   f"train acc: {train_acc:f}; val_acc: {val_acc:f}")
        finally:
            bar.close()
            if self._reseed_dropout and isinstance(dropout_param, dict) and "seed" in dropout_param:
                if saved_seed is None:
                    del dropout_param["seed"]
                else:
                    dropout_param["seed"] = saved_seed

        # Swap the best parameters into the model (copies: best_params stays untouched).
        for k, v in self.best_params.items():
            self.model.params[k] = v.copy()
        # ... with the batchnorm running statistics of the same moment: the best weights paired
        # with the last epoch's statistics would not score the accuracy they were kept for.
        for bn_param, stats in zip(getattr(self.model, "bn_params", None) or [], self.best_norm_stats):
            bn_param.update({k: v.copy() for k, v in stats.items()})


def _running_stats(model):
    """Copies of the running statistics in ``model.bn_params`` (a list of dicts), if it has any."""
    keys = ("running_mean", "running_var")
    return [{k: np.array(p[k], copy=True) for k in keys if k in p}
            for p in (getattr(model, "bn_params", None) or []) if isinstance(p, dict)]
