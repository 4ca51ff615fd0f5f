"""Pictures for the notebooks: image grids (e.g. first-layer filters) and training curves.

Image functions take a batch in (N, H, W, C) layout, as matplotlib's ``imshow`` wants it. Weights
and data in this package are (N, C, H, W); pass ``channels_first=True`` (or convert once with
``nchw_to_nhwc``) for those. Nothing here calls ``plt.show()``: functions return arrays or
figures, and the notebook decides when to show them.
"""

import math

import matplotlib.pyplot as plt
import numpy as np


def nchw_to_nhwc(X):
    """Return a (N, H, W, C) view of a batch stored as (N, C, H, W)."""
    X = _image_batch(X, "X", "(N, C, H, W)")
    return X.transpose(0, 2, 3, 1)


def _image_batch(Xs, name, layout):
    if not isinstance(Xs, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(Xs).__name__}")
    if Xs.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {Xs.dtype}")
    if Xs.ndim != 4:
        raise ValueError(f"{name} must be 4-dimensional {layout}, got shape {Xs.shape}")
    if Xs.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image, got shape {Xs.shape}")
    return Xs


def _nhwc(Xs, channels_first):
    if channels_first:
        return nchw_to_nhwc(Xs)
    return _image_batch(Xs, "Xs", "(N, H, W, C)")


def _float_dtype(dtype):
    return dtype if np.dtype(dtype).kind == "f" else np.float64


def _rescale(a, ubound):
    """Map ``a`` linearly onto [0, ubound]; a constant array maps to zeros."""
    low, high = a.min(), a.max()
    if high == low:
        return np.zeros_like(a)
    return ubound * (a - low) / (high - low)


def visualize_grid(Xs, ubound=255.0, padding=1, channels_first=False):
    """Tile a batch of images into one square-ish grid, each image rescaled on its own.

    Inputs:
    - Xs: images of shape (N, H, W, C), or (N, C, H, W) with channels_first=True.
    - ubound: each image is mapped linearly so its minimum is 0 and its maximum is ubound
      (a constant image becomes all zeros).
    - padding: pixels of background (0) between neighbouring images.

    Returns: grid of shape (G * H + (G - 1) * padding, G * W + (G - 1) * padding, C) with
    G = ceil(sqrt(N)), filled row by row; cells past the N-th image stay 0. The dtype is Xs's
    when Xs is floating, else float64.
    """
    Xs = _nhwc(Xs, channels_first)
    if padding < 0 or int(padding) != padding:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    padding = int(padding)
    N, H, W, C = Xs.shape
    G = math.ceil(math.sqrt(N))
    dtype = _float_dtype(Xs.dtype)
    grid = np.zeros((G * H + (G - 1) * padding, G * W + (G - 1) * padding, C), dtype=dtype)
    for i in range(N):
        row, col = divmod(i, G)
        top, left = row * (H + padding), col * (W + padding)
        grid[top:top + H, left:left + W] = _rescale(Xs[i].astype(dtype), ubound)
    return grid


def vis_grid(Xs, channels_first=False):
    """Tile a batch of images into a square-ish grid, rescaled together to [0, 1].

    Inputs:
    - Xs: images of shape (N, H, W, C), or (N, C, H, W) with channels_first=True.

    Returns: grid of shape (G * (H + 1), G * (W + 1), C), G = ceil(sqrt(N)): every image is
    followed by one pixel of background on its right and below. The background starts at the
    minimum of Xs, then the whole grid is mapped linearly onto [0, 1] (all zeros if constant).
    """
    Xs = _nhwc(Xs, channels_first)
    N, H, W, C = Xs.shape
    G = math.ceil(math.sqrt(N))
    dtype = _float_dtype(Xs.dtype)
    grid = np.full((G * (H + 1), G * (W + 1), C), Xs.min(), dtype=dtype)
    for i in range(N):
        row, col = divmod(i, G)
        grid[row * (H + 1):row * (H + 1) + H, col * (W + 1):col * (W + 1) + W] = Xs[i]
    return _rescale(grid, 1.0)


def vis_nn(rows):
    """Tile a table of images (e.g. a query and its nearest neighbours per row), rescaled to [0, 1].

    Inputs:
    - rows: sequence of R rows, each a sequence of D images of the same shape (H, W, C).

    Returns: grid of shape (R * (H + 1), D * (W + 1), C): each image is followed by one pixel of
    background (value 1 before rescaling) on its right and below; then the whole grid is mapped
    linearly onto [0, 1] (all zeros if constant).
    """
    if len(rows) == 0 or len(rows[0]) == 0:
        raise ValueError("rows must hold at least one row with at least one image")
    D = len(rows[0])
    first = np.asarray(rows[0][0])
    if first.ndim != 3:
        raise ValueError(f"each image must have shape (H, W, C), got {first.shape}")
    H, W, C = first.shape
    grid = np.ones((len(rows) * (H + 1), D * (W + 1), C), dtype=_float_dtype(first.dtype))
    for r, row in enumerate(rows):
        if len(row) != D:
            raise ValueError(f"row {r} has {len(row)} images but row 0 has {D}; rows must be equally long")
        for d, img in enumerate(row):
            img = np.asarray(img)
            if img.shape != (H, W, C):
                raise ValueError(f"image [{r}][{d}] has shape {img.shape}, expected {(H, W, C)}")
            grid[r * (H + 1):r * (H + 1) + H, d * (W + 1):d * (W + 1) + W] = img
    return _rescale(grid, 1.0)


def _as_labelled(solver_or_solvers, labels):
    """Return [(label, solver), ...] from one solver, a dict {label: solver} or a list."""
    if isinstance(solver_or_solvers, dict):
        if labels is not None:
            raise ValueError("labels must be None when solvers are given as a dict {label: solver}")
        pairs = [(str(k), s) for k, s in solver_or_solvers.items()]
    elif isinstance(solver_or_solvers, (list, tuple)):
        if labels is None:
            labels = [f"run {i}" for i in range(len(solver_or_solvers))]
        if len(labels) != len(solver_or_solvers):
            raise ValueError(f"got {len(labels)} labels for {len(solver_or_solvers)} solvers")
        pairs = list(zip(map(str, labels), solver_or_solvers))
    else:
        if labels is not None and not isinstance(labels, str):
            raise ValueError("for a single solver, labels must be None or one string")
        pairs = [(labels, solver_or_solvers)]
    if not pairs:
        raise ValueError("no solvers to plot")
    for label, s in pairs:
        for attr in ("loss_history", "train_acc_history", "val_acc_history"):
            if not hasattr(s, attr):
                raise TypeError(f"solver {label!r} has no attribute {attr!r}; expected a Solver")
    return pairs


def plot_solver_history(solver_or_solvers, labels=None, figsize=None, title=None, loss_marker="o"):
    """Plot the training loss and the train/validation accuracies of one or several Solvers.

    Inputs:
    - solver_or_solvers: a Solver (anything with loss_history, train_acc_history and
      val_acc_history), a dict {label: solver}, or a list of solvers.
    - labels: names for a list of solvers (default "run 0", "run 1", ...) or one name for a single
      solver; must be None for a dict.
    - figsize: matplotlib figure size; title: optional figure title.
    - loss_marker: matplotlib marker for the per-iteration losses ('o' draws points, '-' a line).

    Returns: the matplotlib Figure (not shown; a notebook displays it at the end of the cell).
    One solver gives two axes: loss per iteration, and train and val accuracy per check. Several
    solvers give three axes: loss, train accuracy and val accuracy, one line per solver.
    Accuracy is plotted against the check index: 0 is after the first iteration, k after epoch k.
    """
    pairs = _as_labelled(solver_or_solvers, labels)
    several = len(pairs) > 1
    n_axes = 3 if several else 2
    fig, axes = plt.subplots(n_axes, 1, figsize=figsize or (10, 3.5 * n_axes))
    loss_ax = axes[0]
    loss_ax.set_title("Training loss")
    loss_ax.set_xlabel("Iteration")
    loss_ax.set_ylabel("Loss")
    for label, s in pairs:
        style = {"marker": loss_marker, "linestyle": "none", "markersize": 3} \
            if loss_marker not in ("-", "--", ":", "-.") else {"linestyle": loss_marker}
        loss_ax.plot(np.arange(1, len(s.loss_history) + 1), s.loss_history, label=label, **style)

    if several:
        for ax, attr, name in ((axes[1], "train_acc_history", "Training accuracy"),
                               (axes[2], "val_acc_history", "Validation accuracy")):
            for label, s in pairs:
                ax.plot(getattr(s, attr), "-o", label=label)
            ax.set_title(name)
        axes[0].legend(loc="upper right", ncol=2)
        axes[1].legend(loc="lower right", ncol=2)
        axes[2].legend(loc="lower right", ncol=2)
    else:
        label, s = pairs[0]
        axes[1].plot(s.train_acc_history, "-o", label="train")
        axes[1].plot(s.val_acc_history, "-o", label="val")
        axes[1].set_title("Classification accuracy" + (f" ({label})" if label else ""))
        axes[1].legend(loc="lower right")
    for ax in axes[1:]:
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Accuracy")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


NORMALIZATION_KINDS = ("batch", "layer", "instance", "group")


def normalization_blocks(kind, N, C, groups=2, sample=0, channel=0):
    """Which (n, c) columns of an (N, C, H*W) block share one mean and variance.

    Inputs:
    - kind: "batch", "layer", "instance" or "group".
    - N, C: batch size and number of channels (positive integers).
    - groups: G, the number of channel groups for "group" (must divide C).
    - sample, channel: the sample and the channel whose statistics are shown.

    Returns: a boolean array of shape (N, C), True where the values (over all of H*W) are
    normalised together with those of (sample, channel).
    """
    if kind not in NORMALIZATION_KINDS:
        raise ValueError(f"kind must be one of {NORMALIZATION_KINDS}, got {kind!r}")
    for name, value in (("N", N), ("C", C), ("groups", groups)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if C % groups:
        raise ValueError(f"groups={groups} must divide C={C}")
    if not (0 <= sample < N and 0 <= channel < C):
        raise ValueError(f"sample={sample} and channel={channel} must index an ({N}, {C}) block")
    shaded = np.zeros((N, C), dtype=bool)
    if kind == "batch":
        shaded[:, channel] = True
    elif kind == "layer":
        shaded[sample, :] = True
    elif kind == "instance":
        shaded[sample, channel] = True
    else:
        size = C // groups
        first = channel // size * size
        shaded[sample, first:first + size] = True
    return shaded


def plot_normalization_groups(N=4, C=6, groups=2, figsize=(14, 4), color="tab:blue"):
    """Draw batch, layer, instance and group normalization as shaded blocks of a feature map.

    Each panel is the activation block of a layer, with the batch axis N, the channel axis C and
    the spatial positions H*W (flattened to one axis) as the three edges of a box; the shaded
    columns are the values normalised together with one mean and one variance (those of sample 0,
    channel 0). As in Wu and He's figure (Group Normalization, 2018).

    Inputs:
    - N, C: how many samples and channels to draw (positive integers); groups: G for the group
      normalization panel (must divide C).
    - figsize: matplotlib figure size; color: the colour of the shaded columns.

    Returns: the matplotlib Figure (four axes, titled "Batch Norm", "Layer Norm", "Instance Norm",
    "Group Norm"); each drawn cell face is a Polygon whose ``get_gid()`` is "shaded" or "plain".
    """
    from matplotlib.patches import Polygon

    fig, axes = plt.subplots(1, 4, figsize=figsize)
    depth = 0.45  # oblique projection of the N axis: each sample further back and up
    height = 3.0  # the H*W axis, drawn as one tall column
    for ax, kind in zip(axes, NORMALIZATION_KINDS):
        shaded = normalization_blocks(kind, N, C, groups=groups)
        # painter's order: the back samples first, and left to right within a sample
        for n in range(N - 1, -1, -1):
            for c in range(C):
                x0, y0 = c + depth * n, depth * n
                face = color if shaded[n, c] else "white"
                gid = "shaded" if shaded[n, c] else "plain"
                front = [(x0, y0), (x0 + 1, y0), (x0 + 1, y0 + height), (x0, y0 + height)]
                top = [(x0, y0 + height), (x0 + 1, y0 + height),
                       (x0 + 1 + depth, y0 + height + depth), (x0 + depth, y0 + height + depth)]
                side = [(x0 + 1, y0), (x0 + 1 + depth, y0 + depth),
                        (x0 + 1 + depth, y0 + height + depth), (x0 + 1, y0 + height)]
                for points, alpha in ((front, 1.0), (top, 0.8), (side, 0.6)):
                    patch = Polygon(points, closed=True, facecolor=face, edgecolor="black",
                                    linewidth=0.6, alpha=alpha if shaded[n, c] else 1.0)
                    patch.set_gid(gid)
                    ax.add_patch(patch)
        ax.annotate("C", (C / 2, -0.45), ha="center", va="top")
        ax.annotate("N", (C + 0.5 + depth * N / 2, depth * N / 2 - 0.2), ha="left", va="top")
        ax.annotate("H, W", (-0.25, height / 2), ha="right", va="center", rotation=90)
        ax.set_xlim(-1.0, C + depth * N + 1.2)
        ax.set_ylim(-1.2, height + depth * N + 0.6)
        ax.set_aspect("equal")
        ax.axis("off")
        title = {"batch": "Batch Norm", "layer": "Layer Norm", "instance": "Instance Norm",
                 "group": f"Group Norm (G = {groups})"}[kind]
        ax.set_title(title)
    fig.tight_layout()
    return fig
