"""First-order update rules for training neural networks.

Every rule has the same signature::

    next_w, config = update(w, dw, config=None)

Inputs:
- w: array of weights, any shape.
- dw: array of the same shape as w, the gradient of the loss with respect to w.
- config: dict of hyperparameters (learning rate, momentum, ...) and of the state the rule keeps
  between steps (velocity, moving averages, step count). ``None`` means all defaults. Missing
  hyperparameters are filled in with ``config.setdefault``, so the returned dict lists every
  value that was used.

Returns:
- next_w: the updated weights, a NEW array of w's shape and dtype. ``w`` and ``dw`` are never
  modified; the caller (usually the Solver) stores next_w in place of w.
- config: the same dict, holding the state to pass to the next call.

State arrays (velocity, cache, m, v) are kept in w's dtype, so float32 weights are updated with
float32 arithmetic. A gradient of another floating dtype is converted to w's dtype first.
Hyperparameters out of range raise ValueError; w and dw of different shapes raise ValueError.

The student writes the update between the START/END lines, with the state in local variables
(v, cache, m, v, t); the given code reads the state from config before and stores it back after,
as in the original assignment (a value the student's code put into config itself is kept).
The state arrays handed to the student's code are new arrays: an array the caller put into a
config is never written to.
"""

import numpy as np

from . import _validate

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam", "scheduled_rule", "UPDATE_RULES"]

# The names Solver accepts as update_rule.
UPDATE_RULES = ("sgd", "sgd_momentum", "rmsprop", "adam")


def _prepare(w, dw, config, rule):
    """Check ``w`` and ``dw``; return ``(w, dw, config)`` with dw in w's dtype and a config dict."""
    w = _validate.float_array(w, "w")
    dw = _validate.float_array(dw, "dw")
    _validate.check_same_shape(w, dw, "w", "dw")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TypeError(f"{rule} config must be a dict or None, got {type(config).__name__}")
    return w, dw.astype(w.dtype, copy=False), config


def _hyper(config, key, default, rule, **bounds):
    """Fill in ``config[key]`` with its default and check it against bounds."""
    config.setdefault(key, default)
    return _validate.float_param(config, key, f"{rule} config", default, **bounds)


def _state(config, key, w, rule):
    """Put a fresh copy of the state ``config[key]`` (zeros like w when missing) in w's dtype into
    config and return it: the student's code may update it in place or rebind it."""
    value = config.get(key)
    if value is None:
        value = np.zeros(w.shape, dtype=w.dtype)
    else:
        value = _validate.float_array(np.asarray(value), f"{rule} config[{key!r}]")
        if value.shape != w.shape:
            raise ValueError(
                f"{rule} config[{key!r}] has shape {value.shape} but w has shape {w.shape}; "
                "was this config used for another parameter?")
        value = np.array(value, dtype=w.dtype)
    config[key] = value
    return value


def _store_back(config, key, value, before, w, rule):
    """config[key] = value, unless the student's code stored a new value in config itself."""
    if config.get(key) is before:
        config[key] = value
    config[key] = _validate.result_array(config[key], w.shape, f"config[{key!r}]", rule, w.dtype)


def _next_w(next_w, w, rule):
    return _validate.result_array(next_w, w.shape, "next_w", rule, w.dtype)


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: next_w = w - learning_rate * dw.

    config:
    - learning_rate: scalar > 0 (default 1e-2).
    """
    w, dw, config = _prepare(w, dw, config, "sgd")
    lr = _hyper(config, "learning_rate", 1e-2, "sgd", low=0.0, low_open=True)

    next_w = w - lr * dw
    return next_w, config


def sgd_momentum(w, dw, config=None):
    """Stochastic gradient descent with momentum.

    v <- momentum * v - learning_rate * dw, then next_w = w + v.

    config:
    - learning_rate: scalar > 0 (default 1e-2).
    - momentum: scalar in [0, 1) (default 0.9); 0 is plain sgd.
    - velocity: array like w, the running velocity (default zeros). Stored back in config.
    """
    w, dw, config = _prepare(w, dw, config, "sgd_momentum")
    _hyper(config, "learning_rate", 1e-2, "sgd_momentum", low=0.0, low_open=True)
    _hyper(config, "momentum", 0.9, "sgd_momentum", low=0.0, high=1.0, high_open=True)
    v = velocity = _state(config, "velocity", w, "sgd_momentum")

    next_w = None
    # TODO: Implement the momentum update formula. Store the updated value in the next_w
    # variable. You should also use and update the velocity v.
    ### BEGIN SOLUTION
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    ### END SOLUTION
    _store_back(config, "velocity", v, velocity, w, "sgd_momentum")  # config['velocity'] = v

    return _next_w(next_w, w, "sgd_momentum"), config


def rmsprop(w, dw, config=None):
    """RMSProp: scale each step by a moving average of squared gradients.

    cache <- decay_rate * cache + (1 - decay_rate) * dw**2, then
    next_w = w - learning_rate * dw / (sqrt(cache) + epsilon).

    config:
    - learning_rate: scalar > 0 (default 1e-2).
    - decay_rate: scalar in [0, 1) (default 0.99), how much of the old cache is kept.
    - epsilon: scalar > 0 (default 1e-8), keeps the division finite.
    - cache: array like w, the moving average of dw**2 (default zeros). Stored back in config.
    """
    w, dw, config = _prepare(w, dw, config, "rmsprop")
    _hyper(config, "learning_rate", 1e-2, "rmsprop", low=0.0, low_open=True)
    _hyper(config, "decay_rate", 0.99, "rmsprop", low=0.0, high=1.0, high_open=True)
    _hyper(config, "epsilon", 1e-8, "rmsprop", low=0.0, low_open=True)
    cache = cache_before = _state(config, "cache", w, "rmsprop")

    next_w = None
    # TODO: Implement the RMSprop update formula, storing the next value of w in the next_w
    # variable. Use and update the moving average of squared gradients in cache.
    ### BEGIN SOLUTION
    cache = config["decay_rate"] * cache + (1 - config["decay_rate"]) * dw ** 2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    ### END SOLUTION
    _store_back(config, "cache", cache, cache_before, w, "rmsprop")  # config['cache'] = cache

    return _next_w(next_w, w, "rmsprop"), config


def adam(w, dw, config=None):
    """Adam: momentum on the gradient plus RMSProp scaling, both bias-corrected.

    With t incremented first (so the first step uses t = 1):
    m <- beta1 * m + (1 - beta1) * dw;   v <- beta2 * v + (1 - beta2) * dw**2;
    m_hat = m / (1 - beta1**t);          v_hat = v / (1 - beta2**t);
    next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon).

    config:
    - learning_rate: scalar > 0 (default 1e-3).
    - beta1: scalar in [0, 1) (default 0.9), decay of the gradient average m.
    - beta2: scalar in [0, 1) (default 0.999), decay of the squared-gradient average v.
    - epsilon: scalar > 0 (default 1e-8).
    - m, v: arrays like w (default zeros). t: integer step count >= 0 (default 0).
      All three are stored back in config.
    """
    w, dw, config = _prepare(w, dw, config, "adam")
    _hyper(config, "learning_rate", 1e-3, "adam", low=0.0, low_open=True)
    _hyper(config, "beta1", 0.9, "adam", low=0.0, high=1.0, high_open=True)
    _hyper(config, "beta2", 0.999, "adam", low=0.0, high=1.0, high_open=True)
    _hyper(config, "epsilon", 1e-8, "adam", low=0.0, low_open=True)
    m = m_before = _state(config, "m", w, "adam")
    v = v_before = _state(config, "v", w, "adam")
    config.setdefault("t", 0)
    t = t_before = _validate.int_param(config, "t", "adam config", 0)
    config["t"] = t

    next_w = None
    # TODO: Implement the Adam update formula, storing the next value of w in the next_w
    # variable. Use and update the m, v and t variables. NOTE: in order to match the reference
    # output, modify t _before_ using it in any calculations.
    ### BEGIN SOLUTION
    t = t + 1
    m = config["beta1"] * m + (1 - config["beta1"]) * dw
    v = config["beta2"] * v + (1 - config["beta2"]) * dw ** 2
    m_hat = m / (1 - config["beta1"] ** t)
    v_hat = v / (1 - config["beta2"] ** t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    ### END SOLUTION
    # config['m'], config['v'], config['t'] = m, v, t
    _store_back(config, "m", m, m_before, w, "adam")
    _store_back(config, "v", v, v_before, w, "adam")
    if config["t"] == t_before:
        config["t"] = t
    config["t"] = _validate.int_param(config, "t", "adam config", 0)

    return _next_w(next_w, w, "adam"), config


def scheduled_rule(rule, total_steps, warmup_steps=0, final_fraction=0.0):
    """Wrap an update rule with a per-step learning-rate schedule: linear warmup, linear decay.

    At step k (counted from 0, per parameter) the learning rate is base * factor(k), where the
    factor rises linearly from 1 / warmup_steps to 1 over the first warmup_steps steps, then falls
    linearly to final_fraction at step total_steps and stays there. The base rate is the config's
    'learning_rate' at the first call (default 1e-3); it is kept under 'base_learning_rate' and the
    step count under 'schedule_step'. The factor never reaches exactly 0 (at least 1e-12), since
    the rules require a positive learning rate.

    Inputs:
    - rule: the name of an update rule of this module ('sgd', 'sgd_momentum', 'rmsprop', 'adam')
      or a callable with the update-rule signature.
    - total_steps: integer >= 1, the length of the run in updates (num_epochs * iterations per
      epoch under Solver).
    - warmup_steps: integer in [0, total_steps].
    - final_fraction: the factor at the end of the run, in [0, 1].

    Returns an update rule ``update(w, dw, config=None) -> (next_w, config)`` to pass to Solver as
    update_rule. It sets the learning rate itself, so leave Solver's lr_decay at 1.
    """
    if isinstance(rule, str):
        if rule not in UPDATE_RULES:
            raise ValueError(f"scheduled_rule: unknown rule {rule!r}; choose one of "
                             f"{', '.join(UPDATE_RULES)} or pass a callable")
        rule = globals()[rule]
    elif not callable(rule):
        raise TypeError(f"scheduled_rule: rule must be a rule name or a callable, got {rule!r}")
    arguments = {"total_steps": total_steps, "warmup_steps": warmup_steps,
                 "final_fraction": final_fraction}
    total_steps = _validate.int_param(arguments, "total_steps", "scheduled_rule", 1)
    warmup_steps = _validate.int_param(arguments, "warmup_steps", "scheduled_rule", 0)
    if warmup_steps > total_steps:
        raise ValueError(f"scheduled_rule['warmup_steps'] must be <= total_steps ({total_steps}), "
                         f"got {warmup_steps}")
    final_fraction = _validate.float_param(arguments, "final_fraction", "scheduled_rule", 0.0,
                                           low=0.0, high=1.0)

    def update(w, dw, config=None):
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise TypeError(f"scheduled rule config must be a dict or None, got {type(config).__name__}")
        step = config.get("schedule_step", 0)
        base = config.setdefault("base_learning_rate", config.get("learning_rate", 1e-3))
        if step < warmup_steps:
            factor = (step + 1) / warmup_steps
        else:
            progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
            factor = 1.0 - (1.0 - final_fraction) * progress
        config["learning_rate"] = base * max(factor, 1e-12)
        config["schedule_step"] = step + 1
        return rule(w, dw, config)

    update.__name__ = f"scheduled_{getattr(rule, '__name__', 'rule')}"
    # Elementwise when the wrapped rule is: the Solver may then update a large parameter in blocks.
    update.elementwise = (any(rule is globals()[name] for name in UPDATE_RULES)
                          or getattr(rule, "elementwise", False) is True)
    return update
