"""Q3, dropout (public checks): inverted dropout forward and backward, FullyConnectedNet with dropout.

Convention of the assignment: ``dropout_param['p']`` is the probability of KEEPING a unit, and
kept units are scaled by 1/p during training (inverted dropout), so test time is the identity.
"""

import numpy as np

from cs231n.selfcheck.support import H, Model, assert_close, check_model_gradients, checklist, numeric_from_perturbed, pair, rng

PART = ('Q3', 'Dropout')
CHECKS, check = checklist()


@check(3, "dropout_forward, train: kept units scaled by 1/p, keep rate p, same seed same mask", "dropout_forward")
def dropout_forward_train(ctx):
    layers = ctx.student("layers")
    x = np.full((200, 100), 3.0)
    for p in (0.3, 0.8):
        out, _ = pair(layers.dropout_forward(x.copy(), {"mode": "train", "p": p, "seed": 7}), "dropout_forward")
        out = np.asarray(out, dtype=np.float64)
        assert out.shape == x.shape, f"output has shape {out.shape}, expected {x.shape}"
        kept = out != 0
        assert np.allclose(out[kept], 3.0 / p), (
            f"with p={p} the kept units should be x / p = {3.0 / p:.4g}; got values such as "
            f"{np.unique(out[kept])[:3]}")
        rate = kept.mean()
        assert abs(rate - p) < 0.02, f"with p={p} (probability of keeping) {rate:.3f} of the units were kept"
        again, _ = pair(layers.dropout_forward(x.copy(), {"mode": "train", "p": p, "seed": 7}), "dropout_forward")
        assert np.array_equal(out, again), "the same seed should give the same mask"
        other, _ = pair(layers.dropout_forward(x.copy(), {"mode": "train", "p": p, "seed": 8}), "dropout_forward")
        assert not np.array_equal(out, other), "different seeds should give different masks"


@check(2, "dropout_forward, test: the identity", "dropout_forward")
def dropout_forward_test(ctx):
    layers = ctx.student("layers")
    x = rng(1).standard_normal((4, 5))
    out, _ = pair(layers.dropout_forward(x.copy(), {"mode": "test", "p": 0.4}), "dropout_forward")
    assert_close(out, x, "dropout_forward output in test mode")


@check(4, "dropout_backward: train mask (numerical gradient with a fixed seed) and test identity",
       "dropout_backward", ("dropout_forward",))
def dropout_backward_gradients(ctx):
    layers = ctx.student("layers")
    x = rng(2).standard_normal((6, 7)) + 0.1
    dout = rng(3).standard_normal((6, 7))
    param = {"mode": "train", "p": 0.6, "seed": 11}
    out, cache = pair(layers.dropout_forward(x, dict(param)), "dropout_forward")
    dx = layers.dropout_backward(dout, cache)
    num = numeric_from_perturbed(layers.dropout_forward.perturb([x, dict(param)], wrt=[["arg", 0]], h=H, select=[0]),
                                 dout, x.shape)
    assert_close(dx, num, "dropout_backward dx in train mode (compared with the numerical gradient)")
    assert_close(dx, dout * (np.asarray(out) != 0) / 0.6, "dropout_backward dx in train mode")
    _, cache = pair(layers.dropout_forward(x, {"mode": "test", "p": 0.6}), "dropout_forward")
    assert_close(layers.dropout_backward(dout, cache), dout, "dropout_backward dx in test mode")


def _fc_net(ctx, dropout, seed=123, reg=0.0):
    return Model(ctx, "classifiers.fc_net", "FullyConnectedNet", hidden_dims=[6, 5], input_dim=4, num_classes=3,
                 dropout=dropout, seed=seed, reg=reg, weight_scale=0.5, dtype=np.float64)


@check(4, "FullyConnectedNet with dropout: gradients against numerical (fixed seed)", "FullyConnectedNet",
       ("dropout_forward", "dropout_backward", "affine_forward", "affine_backward", "relu_forward",
        "relu_backward", "softmax_loss"))
def fc_net_dropout_gradients(ctx):
    r = rng(4)
    X, y = r.standard_normal((5, 4)), np.array([0, 1, 2, 1, 0])
    for seed, (keep, reg) in enumerate(((0.5, 0.0), (0.75, 0.3))):
        check_model_gradients(_fc_net(ctx, keep, reg=reg).randomize(30 + seed), X, y, numeric=True)


@check(2, "FullyConnectedNet with dropout: dropout is used in training and off at test time",
       "FullyConnectedNet", ("dropout_forward", "affine_forward", "relu_forward", "softmax_loss"))
def fc_net_dropout_modes(ctx):
    X, y = rng(5).standard_normal((8, 4)), np.arange(8) % 3
    plain, dropped = _fc_net(ctx, 1), _fc_net(ctx, 0.5)
    dropped.set_params(plain.params)
    assert_close(dropped.loss(X), plain.loss(X), "test-time scores (loss(X)) with dropout=0.5")
    train_loss, _ = pair(dropped.loss(X, y), "loss")
    plain_loss, _ = pair(plain.loss(X, y), "loss")
    assert abs(float(train_loss) - float(plain_loss)) > 1e-9, (
        "the training loss with dropout=0.5 equals the loss without dropout: is dropout applied?")
