"""Image grids on small hand-checked inputs, and the training-curve figure (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

from types import SimpleNamespace  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cs231n.vis_utils import (  # noqa: E402
    nchw_to_nhwc, plot_solver_history, vis_grid, vis_nn, visualize_grid,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---- visualize_grid ----------------------------------------------------------------------------

def five_images():
    """5 images of 2x3 pixels, 1 channel; image i holds i + [0..5] (a ramp)."""
    ramp = np.arange(6.0).reshape(2, 3)
    return np.stack([i + ramp for i in range(5)])[..., None]  # (5, 2, 3, 1)


def test_visualize_grid_shape_and_layout():
    grid = visualize_grid(five_images())
    # G = ceil(sqrt(5)) = 3 cells per side: 3 * 2 + 2 padding rows, 3 * 3 + 2 padding columns
    assert grid.shape == (8, 11, 1)
    expected = 51.0 * np.arange(6.0).reshape(2, 3)  # each ramp rescaled to 0..255 on its own
    for i, (top, left) in enumerate([(0, 0), (0, 4), (0, 8), (3, 0), (3, 4)]):
        np.testing.assert_allclose(grid[top:top + 2, left:left + 3, 0], expected, err_msg=f"image {i}")
    np.testing.assert_array_equal(grid[:, 3], 0)  # padding column
    np.testing.assert_array_equal(grid[2, :], 0)  # padding row
    np.testing.assert_array_equal(grid[3:5, 8:11], 0)  # cells past the 5th image stay empty
    np.testing.assert_array_equal(grid[6:8, :], 0)


def test_visualize_grid_padding_and_ubound():
    grid = visualize_grid(five_images(), ubound=1.0, padding=0)
    assert grid.shape == (6, 9, 1)
    assert grid.max() == 1.0 and grid.min() == 0.0
    np.testing.assert_allclose(grid[0:2, 3:6, 0], np.arange(6.0).reshape(2, 3) / 5)


def test_visualize_grid_constant_image_is_zero_not_nan():
    grid = visualize_grid(np.full((1, 2, 2, 3), 7.0))
    np.testing.assert_array_equal(grid, np.zeros((2, 2, 3)))


def test_visualize_grid_channels_first():
    X = np.random.default_rng(0).standard_normal((4, 3, 5, 6))  # (N, C, H, W)
    grid = visualize_grid(X, channels_first=True)
    assert grid.shape == (11, 13, 3)
    np.testing.assert_array_equal(grid, visualize_grid(X.transpose(0, 2, 3, 1)))
    np.testing.assert_array_equal(nchw_to_nhwc(X), X.transpose(0, 2, 3, 1))


def test_visualize_grid_dtypes():
    X = five_images()
    assert visualize_grid(X.astype(np.float32)).dtype == np.float32
    assert visualize_grid(X.astype(np.uint8)).dtype == np.float64
    np.testing.assert_allclose(visualize_grid(X.astype(np.uint8)), visualize_grid(X))


def test_visualize_grid_does_not_modify_input():
    X = five_images()
    saved = X.copy()
    visualize_grid(X)
    np.testing.assert_array_equal(X, saved)


def test_visualize_grid_rejects_3d_input():
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        visualize_grid(np.zeros((2, 3, 4)))


def test_visualize_grid_rejects_lists():
    with pytest.raises(TypeError, match="numpy array"):
        visualize_grid([[[[0.0]]]])


def test_visualize_grid_rejects_negative_padding():
    with pytest.raises(ValueError, match="padding"):
        visualize_grid(five_images(), padding=-1)


# ---- vis_grid and vis_nn -----------------------------------------------------------------------

def test_vis_grid_values():
    X = np.array([5.0, 7.0]).reshape(2, 1, 1, 1)
    grid = vis_grid(X)
    # G = 2: each 1x1 image is followed by 1 pixel of background (= min = 5) right and below;
    # then the grid is mapped onto [0, 1]: 5 -> 0, 7 -> 1.
    expected = np.zeros((4, 4, 1))
    expected[0, 2, 0] = 1.0
    np.testing.assert_array_equal(grid, expected)


def test_vis_grid_shape_and_range():
    X = np.random.default_rng(1).uniform(-3, 3, size=(5, 2, 3, 3))
    grid = vis_grid(X)
    assert grid.shape == (9, 12, 3)
    assert grid.min() == 0.0 and grid.max() == 1.0
    assert vis_grid(X.transpose(0, 3, 1, 2), channels_first=True).shape == (9, 12, 3)


def test_vis_nn_values():
    a = np.full((1, 1, 1), 3.0)
    b = np.full((1, 1, 1), 5.0)
    grid = vis_nn([[a, b]])
    # background is 1 before rescaling: min 1, max 5, so a -> 0.5, b -> 1, background -> 0
    expected = np.zeros((2, 4, 1))
    expected[0, 0, 0], expected[0, 2, 0] = 0.5, 1.0
    np.testing.assert_allclose(grid, expected)


def test_vis_nn_shape():
    rng = np.random.default_rng(2)
    rows = [[rng.random((4, 5, 3)) for _ in range(6)] for _ in range(2)]
    assert vis_nn(rows).shape == (2 * 5, 6 * 6, 3)


def test_vis_nn_ragged_rows_raise():
    img = np.zeros((2, 2, 1))
    with pytest.raises(ValueError, match="row 1"):
        vis_nn([[img, img], [img]])


def test_vis_nn_mismatched_image_raises():
    with pytest.raises(ValueError, match=r"image \[0\]\[1\]"):
        vis_nn([[np.zeros((2, 2, 1)), np.zeros((3, 2, 1))]])


# ---- plot_solver_history -----------------------------------------------------------------------

def fake_solver(scale=1.0):
    return SimpleNamespace(loss_history=[2.0 * scale, 1.5 * scale, 1.0 * scale, 0.8 * scale],
                           train_acc_history=[0.2, 0.5, 0.7], val_acc_history=[0.2, 0.4, 0.6])


def test_plot_single_solver(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("library code called plt.show()"))
    s = fake_solver()
    fig = plot_solver_history(s)
    assert isinstance(fig, matplotlib.figure.Figure)
    loss_ax, acc_ax = fig.axes
    np.testing.assert_array_equal(loss_ax.lines[0].get_ydata(), s.loss_history)
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2, 3, 4])
    train, val = acc_ax.lines
    np.testing.assert_array_equal(train.get_ydata(), s.train_acc_history)
    np.testing.assert_array_equal(val.get_ydata(), s.val_acc_history)
    assert [t.get_text() for t in acc_ax.get_legend().get_texts()] == ["train", "val"]
    fig.canvas.draw()  # renders with Agg without error


def test_plot_dict_of_solvers_compares_on_three_axes():
    solvers = {"sgd": fake_solver(1.0), "adam": fake_solver(0.5)}
    fig = plot_solver_history(solvers, title="update rules")
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sgd", "adam"]
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), solvers["adam"].loss_history)
    np.testing.assert_array_equal(fig.axes[2].lines[0].get_ydata(), solvers["sgd"].val_acc_history)
    assert fig._suptitle.get_text() == "update rules"


def test_plot_list_with_labels():
    fig = plot_solver_history([fake_solver(), fake_solver(2.0)], labels=["a", "b"], loss_marker="-")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b"]
    assert fig.axes[0].lines[0].get_linestyle() == "-"


def test_plot_wrong_number_of_labels_raises():
    with pytest.raises(ValueError, match="2 labels for 3 solvers"):
        plot_solver_history([fake_solver()] * 3, labels=["a", "b"])


def test_plot_labels_with_dict_raise():
    with pytest.raises(ValueError, match="labels must be None"):
        plot_solver_history({"a": fake_solver()}, labels=["a"])


def test_plot_non_solver_raises():
    with pytest.raises(TypeError, match="loss_history"):
        plot_solver_history(object())


def test_plot_real_solver():
    from cs231n.solver import Solver

    class Constant:
        params = {"k": np.zeros(1)}

        def loss(self, X, y=None):
            scores = np.zeros((X.shape[0], 2))
            return scores if y is None else (1.0, {"k": np.ones(1)})

    data = {"X_train": np.zeros((4, 1)), "y_train": np.zeros(4, dtype=int),
            "X_val": np.zeros((2, 1)), "y_val": np.zeros(2, dtype=int)}
    s = Solver(Constant(), data, batch_size=2, num_epochs=2, verbose=False, seed=0)
    s.train()
    fig = plot_solver_history(s)
    assert len(fig.axes[1].lines[0].get_ydata()) == 3


# ---- normalization figure --------------------------------------------------------------------

from cs231n.vis_utils import normalization_blocks, plot_normalization_groups  # noqa: E402


@pytest.mark.parametrize("kind, expected", [
    ("batch", [(n, 0) for n in range(3)]),
    ("layer", [(0, c) for c in range(4)]),
    ("instance", [(0, 0)]),
    ("group", [(0, 0), (0, 1)]),
])
def test_normalization_blocks(kind, expected):
    shaded = normalization_blocks(kind, N=3, C=4, groups=2)
    assert shaded.shape == (3, 4) and shaded.dtype == bool
    assert sorted(zip(*np.nonzero(shaded))) == expected


def test_normalization_blocks_group_follows_the_channel():
    shaded = normalization_blocks("group", N=2, C=6, groups=3, sample=1, channel=3)
    assert sorted(zip(*np.nonzero(shaded))) == [(1, 2), (1, 3)]
    # G = C is instance norm, G = 1 layer norm
    assert np.array_equal(normalization_blocks("group", 2, 6, groups=6), normalization_blocks("instance", 2, 6))
    assert np.array_equal(normalization_blocks("group", 2, 6, groups=1), normalization_blocks("layer", 2, 6))


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "weight"}, "kind must be one of"),
    ({"kind": "group", "groups": 4}, "must divide C"),
    ({"kind": "batch", "N": 0}, "N must be a positive integer"),
    ({"kind": "batch", "C": 2.5}, "C must be a positive integer"),
    ({"kind": "batch", "sample": 3}, "must index"),
])
def test_normalization_blocks_bad_input(kwargs, message):
    args = {"N": 3, "C": 6, "groups": 2, **kwargs}
    kind = args.pop("kind")
    with pytest.raises(ValueError, match=message):
        normalization_blocks(kind, **args)


def test_plot_normalization_groups_shades_the_right_columns():
    N, C, G = 4, 6, 3
    fig = plot_normalization_groups(N=N, C=C, groups=G)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["Batch Norm", "Layer Norm", "Instance Norm", f"Group Norm (G = {G})"]
    # three faces (front, top, side) per (n, c) column; shaded faces = 3 x the shaded columns
    for ax, columns in zip(axes, (N, C, 1, C // G)):
        gids = [p.get_gid() for p in ax.patches]
        assert len(gids) == 3 * N * C
        assert gids.count("shaded") == 3 * columns
        shaded_colours = {p.get_facecolor()[:3] for p in ax.patches if p.get_gid() == "shaded"}
        assert len(shaded_colours) == 1 and shaded_colours != {(1.0, 1.0, 1.0)}
