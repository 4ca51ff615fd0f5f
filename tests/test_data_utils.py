"""cs231n.data_utils and cs231n.synthetic_cifar: layout, splits, dtypes, mean subtraction, memory,
safe unpickling, clear errors, and (marked realdata) the real CIFAR-10.

Expected values are computed here from the raw pickles with the standard unpickler (the files are
our own synthetic ones), never with the loader under test.
"""

import json
import os
import pickle
import pickletools
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import cs231n
from cs231n import data_utils
from cs231n.data_utils import (
    CLASSES, CIFAR10NotFoundError, CIFARFormatError, SyntheticDataWarning, UnsafePickleError, cifar10_available,
    cifar10_dir, get_CIFAR10_data, load_CIFAR10, load_CIFAR_batch,
)
from cs231n.synthetic_cifar import main as synthetic_main
from cs231n.synthetic_cifar import write_synthetic_cifar10

# Loading the synthetic fixture warns by design; tests that check the warning use pytest.warns.
pytestmark = pytest.mark.filterwarnings("ignore::cs231n.data_utils.SyntheticDataWarning")
REPO = Path(cs231n.__file__).resolve().parents[1]
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


@pytest.fixture(autouse=True)
def _no_repo_data(request, monkeypatch, tmp_path):
    """Point the data directory at an empty temporary folder, except for realdata tests."""
    if request.node.get_closest_marker("realdata") is None:
        monkeypatch.setenv("CS231N_DATA_DIR", str(tmp_path / "empty-data-dir"))
        monkeypatch.delenv("CS231N_SYNTHETIC_DATA", raising=False)


def raw(folder, name):
    with open(Path(folder) / name, "rb") as f:
        return pickle.load(f, encoding="bytes")


def raw_train(folder):
    """(500, 3072) uint8 and labels of the synthetic training batches, concatenated in file order."""
    batches = [raw(folder, name) for name in TRAIN]
    return np.concatenate([b[b"data"] for b in batches]), np.concatenate([b[b"labels"] for b in batches])


def write_batch(path, obj, protocol=2):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def good_batch(n=20):
    rng = np.random.default_rng(1)
    return {b"batch_label": b"test", b"labels": [int(k) for k in np.arange(n) % 10],
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}


# --- load_CIFAR_batch / load_CIFAR10 ---------------------------------------------------------

def test_batch_is_N_C_H_W_with_int64_labels(synthetic_cifar10):
    X, y = load_CIFAR_batch(synthetic_cifar10 / "data_batch_2")
    ref = raw(synthetic_cifar10, "data_batch_2")
    assert X.shape == (100, 3, 32, 32) and X.dtype == np.uint8
    assert y.shape == (100,) and y.dtype == np.int64
    assert y.tolist() == ref[b"labels"]
    for i, c, h, w in [(0, 0, 0, 0), (7, 1, 5, 31), (99, 2, 31, 3), (42, 2, 17, 9)]:
        assert X[i, c, h, w] == ref[b"data"][i, c * 1024 + h * 32 + w]  # R plane, G plane, B plane


def test_load_CIFAR10_concatenates_batches_in_order(synthetic_cifar10):
    Xtr, ytr, Xte, yte = load_CIFAR10(synthetic_cifar10)
    data, labels = raw_train(synthetic_cifar10)
    test = raw(synthetic_cifar10, "test_batch")
    assert Xtr.shape == (500, 3, 32, 32) and Xte.shape == (100, 3, 32, 32)
    np.testing.assert_array_equal(Xtr.reshape(500, -1), data)
    np.testing.assert_array_equal(ytr, labels)
    np.testing.assert_array_equal(Xte.reshape(100, -1), test[b"data"])
    np.testing.assert_array_equal(yte, test[b"labels"])
    assert ytr.dtype == yte.dtype == np.int64


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_batches_written_with_any_pickle_protocol_load(tmp_path, protocol):
    batch = good_batch()
    X, y = load_CIFAR_batch(write_batch(tmp_path / "b", batch, protocol))
    np.testing.assert_array_equal(X.reshape(20, -1), batch[b"data"])
    assert y.tolist() == batch[b"labels"]


def test_str_keys_are_accepted(tmp_path):
    batch = {k.decode(): v for k, v in good_batch().items()}
    X, _ = load_CIFAR_batch(write_batch(tmp_path / "b", batch))
    assert X.shape == (20, 3, 32, 32)


# --- get_CIFAR10_data ------------------------------------------------------------------------

def test_split_crosses_batch_boundaries_in_file_order(synthetic_cifar10):
    # 250 train = batches 1, 2 and half of 3; 150 val = the rest of 3 and all of 4.
    d = get_CIFAR10_data(250, 150, 60, subtract_mean=False, root=synthetic_cifar10)
    data, labels = raw_train(synthetic_cifar10)
    test = raw(synthetic_cifar10, "test_batch")
    np.testing.assert_array_equal(d["X_train"].reshape(250, -1), data[:250])
    np.testing.assert_array_equal(d["X_val"].reshape(150, -1), data[250:400])
    np.testing.assert_array_equal(d["X_test"].reshape(60, -1), test[b"data"][:60])
    np.testing.assert_array_equal(d["y_train"], labels[:250])
    np.testing.assert_array_equal(d["y_val"], labels[250:400])
    np.testing.assert_array_equal(d["y_test"], test[b"labels"][:60])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shapes_dtypes_contiguity(synthetic_cifar10, dtype):
    d = get_CIFAR10_data(400, 50, 100, dtype=dtype, root=synthetic_cifar10)
    assert list(d) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    for split, n in [("train", 400), ("val", 50), ("test", 100)]:
        X, y = d[f"X_{split}"], d[f"y_{split}"]
        assert X.shape == (n, 3, 32, 32) and X.dtype == dtype and X.flags.c_contiguous
        assert y.shape == (n,) and y.dtype == np.int64


def test_default_dtype_is_float32(synthetic_cifar10):
    assert get_CIFAR10_data(10, 10, 10, root=synthetic_cifar10)["X_train"].dtype == np.float32


def test_mean_image_of_training_split_is_subtracted_everywhere(synthetic_cifar10):
    d = get_CIFAR10_data(300, 100, 100, dtype=np.float64, root=synthetic_cifar10)
    data, _ = raw_train(synthetic_cifar10)
    mean = data[:300].astype(np.float64).mean(axis=0)
    test = raw(synthetic_cifar10, "test_batch")[b"data"].astype(np.float64)
    np.testing.assert_allclose(d["X_train"].reshape(300, -1), data[:300] - mean, atol=1e-9)
    np.testing.assert_allclose(d["X_val"].reshape(100, -1), data[300:400] - mean, atol=1e-9)
    np.testing.assert_allclose(d["X_test"].reshape(100, -1), test - mean, atol=1e-9)
    np.testing.assert_allclose(d["X_train"].mean(axis=0), 0, atol=1e-9)


def test_float32_mean_subtraction_is_accurate(synthetic_cifar10):
    d32 = get_CIFAR10_data(450, 50, 100, root=synthetic_cifar10)
    d64 = get_CIFAR10_data(450, 50, 100, dtype=np.float64, root=synthetic_cifar10)
    for key in ("X_train", "X_val", "X_test"):
        np.testing.assert_allclose(d32[key], d64[key], atol=2e-5)


def test_zero_sized_validation_and_test_splits(synthetic_cifar10):
    d = get_CIFAR10_data(100, 0, 0, root=synthetic_cifar10)
    assert d["X_val"].shape == (0, 3, 32, 32) and d["X_test"].shape == (0, 3, 32, 32)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(num_training=0), ValueError, r"num_training must lie in \[1, 50000\], got 0"),
    (dict(num_training=-5, subtract_mean=False), ValueError, r"num_training must lie in \[0, 50000\], got -5"),
    (dict(num_training=49000, num_validation=1001), ValueError, r"num_validation must lie in \[0, 1000\], got 1001"),
    (dict(num_test=10001), ValueError, r"num_test must lie in \[0, 10000\], got 10001"),
    (dict(num_training=100.0), TypeError, r"num_training must be an integer, got 100.0"),
    (dict(num_validation=True), TypeError, r"num_validation must be an integer, got True"),
    (dict(dtype=np.int32), TypeError, r"dtype must be np.float32 or np.float64, got int32"),
    (dict(dtype="nonsense"), TypeError, r"dtype must be np.float32 or np.float64, got 'nonsense'"),
], ids=["zero-train", "negative-train", "too-many", "too-many-test", "float-count", "bool-count",
        "int-dtype", "bad-dtype"])
def test_bad_arguments(synthetic_cifar10, kwargs, error, message):
    with pytest.raises(error, match=message):
        get_CIFAR10_data(root=synthetic_cifar10, **kwargs)


def test_more_training_images_than_the_files_hold(synthetic_cifar10):
    with pytest.raises(ValueError, match=r"400 training \+ 101 validation images, but .* holds only 500"):
        get_CIFAR10_data(400, 101, 10, root=synthetic_cifar10)


def test_more_test_images_than_the_file_holds(synthetic_cifar10):
    with pytest.raises(ValueError, match=r"asked for 101 test images, but .*test_batch holds only 100"):
        get_CIFAR10_data(10, 10, 101, root=synthetic_cifar10)


# --- missing data ----------------------------------------------------------------------------

def test_missing_data_says_where_and_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("CS231N_DATA_DIR", str(tmp_path))
    with pytest.raises(CIFAR10NotFoundError) as info:
        get_CIFAR10_data()
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "python -m cs231n.download" in message and "bash datasets/get_datasets.sh" in message


def test_missing_data_in_a_custom_folder_names_the_dir_option(tmp_path):
    with pytest.raises(CIFAR10NotFoundError, match=r"data_batch_1.*cs231n.download --dir"):
        load_CIFAR10(tmp_path / "cifar-10-batches-py")


def test_parent_folder_passed_as_root_gets_a_hint(synthetic_cifar10):
    with pytest.raises(CIFAR10NotFoundError, match="did you mean"):
        get_CIFAR10_data(root=synthetic_cifar10.parent)


def test_data_dir_is_repo_datasets_whatever_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CS231N_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert cifar10_dir() == REPO / "datasets" / "cifar-10-batches-py"


def test_data_dir_follows_environment_variable(synthetic_cifar10, monkeypatch):
    monkeypatch.setenv("CS231N_DATA_DIR", str(synthetic_cifar10.parent))
    assert cifar10_dir() == synthetic_cifar10 and cifar10_available()
    with pytest.warns(SyntheticDataWarning):
        assert get_CIFAR10_data(10, 10, 10)["X_train"].shape == (10, 3, 32, 32)


# --- safe unpickling -------------------------------------------------------------------------

class _Payload:
    """Pickles to a call of exec that creates the marker file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    batch = good_batch()
    batch[b"labels"] = _Payload(marker)
    path = write_batch(tmp_path / "evil", batch, protocol)
    with open(path, "rb") as f:  # sanity: the payload does run under a plain unpickler
        pickle.load(f)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnsafePickleError, match=r"(builtins|__builtin__)\.exec"):
        load_CIFAR_batch(path)
    assert not marker.exists()


def test_os_system_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil"
    path.write_bytes(b"cos\nsystem\n(V" + f"touch {marker}".encode() + b"\ntR.")
    with pytest.raises(UnsafePickleError, match=r"os\.system"):
        load_CIFAR_batch(path)
    assert not marker.exists()


def test_codecs_encode_with_other_encodings_is_refused(tmp_path):
    import codecs

    class Rot13:
        def __reduce__(self):
            return codecs.encode, ("abc", "rot13")

    path = write_batch(tmp_path / "b", {b"data": Rot13()}, protocol=2)
    with pytest.raises(UnsafePickleError, match="rot13"):
        load_CIFAR_batch(path)


def _bad(key, value):
    batch = good_batch()
    if value is None:
        del batch[key]
    else:
        batch[key] = value
    return batch


@pytest.mark.parametrize("obj, message", [
    ([1, 2, 3], r"holds a list, not a dict"),
    (_bad(b"labels", None), r"no b'labels' entry"),
    (_bad(b"data", None), r"no b'data' entry"),
    (_bad(b"data", np.zeros((20, 3072), np.float32)), r"uint8 array of shape \(N, 3072\), got float32"),
    (_bad(b"data", np.zeros((20, 3000), np.uint8)), r"got uint8 array of shape \(20, 3000\)"),
    (_bad(b"data", b"\x00" * 3072), r"got bytes"),
    (_bad(b"labels", [0] * 19), r"19 labels for 20 images"),
    (_bad(b"labels", [10] + [0] * 19), r"label 10 is outside 0..9"),
    (_bad(b"labels", [-1] + [0] * 19), r"label -1 is outside 0..9"),
    (_bad(b"labels", [0.5] * 20), r"flat list of integers, got a float in it"),
    (_bad(b"labels", np.zeros((20, 1), np.int64)), r"flat list of integers, got int64 values of shape \(20, 1\)"),
    (_bad(b"labels", "0123"), r"must be a list of integers, got str"),
], ids=["not-dict", "no-labels", "no-data", "float-data", "wrong-width", "bytes-data", "count-mismatch",
        "label-10", "label-negative", "float-labels", "2d-labels", "str-labels"])
def test_wrong_structure_is_refused(tmp_path, obj, message):
    path = write_batch(tmp_path / "b", obj)
    with pytest.raises(CIFARFormatError, match=message):
        load_CIFAR_batch(path)


# --- hostile and damaged files ---------------------------------------------------------------

_CHILD = """
import resource, sys
try:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a regression fails, never swaps
except (ValueError, OSError):
    pass
from cs231n.data_utils import load_CIFAR_batch
try:
    load_CIFAR_batch(sys.argv[1])
except Exception as err:
    print(type(err).__name__, err)
else:
    print("loaded")
"""


def load_in_child(path, timeout=60):
    """Outcome of load_CIFAR_batch(path) in a fresh process with 2 GiB of address space."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True,
                          env=env, timeout=timeout).stdout.strip()


def test_labels_nested_through_the_pickle_memo_are_refused_at_once(tmp_path):
    level = [0] * 10
    for _ in range(9):  # 10^10 leaves, shared: a few hundred bytes of pickle
        level = [level] * 10
    batch = good_batch()
    batch[b"labels"] = [level] * 20
    assert len(pickle.dumps(batch[b"labels"], protocol=2)) < 1000
    path = write_batch(tmp_path / "b", batch)
    out = load_in_child(path)
    assert out.startswith("CIFARFormatError") and "flat list of integers, got a list in it" in out, out
    assert str(path) in out and "fetch CIFAR-10 again" in out


def test_dict_key_hash_bomb_is_refused_at_once(tmp_path):
    # A dict whose key is t80, where t0 = () and t(k+1) = (tk, tk) through the memo: hashing it
    # would visit 2^80 tuples. Written opcode by opcode (building it here would hash it too).
    tuples = b")q\x000" + b"h\x00h\x00\x86q\x000" * 80
    path = tmp_path / "b"
    path.write_bytes(b"\x80\x02}" + tuples + b"h\x00K\x01s.")
    out = load_in_child(path)
    assert out.startswith("UnsafePickleError") and "dictionary key of type tuple" in out, out


@pytest.mark.parametrize("obj", [{b"labels": frozenset([1])}, {b"labels": {1, 2}}])
def test_sets_are_refused(tmp_path, obj):
    with pytest.raises(UnsafePickleError, match="builds a set"):
        load_CIFAR_batch(write_batch(tmp_path / "b", obj, protocol=4))


def test_dtype_from_a_field_list_is_refused(tmp_path):
    class FieldDtype:
        def __reduce__(self):
            return np.dtype, ([("a", "u1")],)

    with pytest.raises(UnsafePickleError, match="refusing numpy.dtype of a list"):
        load_CIFAR_batch(write_batch(tmp_path / "b", {b"data": FieldDtype()}))


def _damaged(kind, tmp_path):
    good = pickle.dumps(good_batch(), protocol=2)
    payload = {"truncated": good[:len(good) // 2], "empty": b"",
               "random": np.random.default_rng(0).bytes(5000),
               "text": b"this is not a pickle\n",
               "huge-length": b"\x80\x04\x8e" + (1 << 62).to_bytes(8, "little") + b"abc"}[kind]
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    path.parent.mkdir()
    path.write_bytes(payload)
    return path


@pytest.mark.parametrize("kind", ["truncated", "empty", "random", "text", "huge-length"])
def test_damaged_batch_names_the_file_and_says_to_fetch_again(tmp_path, kind):
    path = _damaged(kind, tmp_path)
    with pytest.raises(CIFARFormatError) as info:
        load_CIFAR_batch(path)
    message = str(info.value)
    assert str(path) in message and "fetch CIFAR-10 again with: python -m cs231n.download --dir" in message
    assert str(tmp_path) in message.split("--dir")[1]  # the folder to fetch into


def test_damaged_file_through_the_loaders(synthetic_cifar10, tmp_path):
    import shutil
    folder = tmp_path / "cifar-10-batches-py"
    shutil.copytree(synthetic_cifar10, folder)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:100])
    for load in (lambda: load_CIFAR10(folder), lambda: get_CIFAR10_data(root=folder)):
        with pytest.raises(CIFARFormatError, match=r"data_batch_3 cannot be read as a CIFAR-10 batch"):
            load()
    (folder / "batches.meta").write_bytes(b"\x80\x02}q")
    with pytest.raises(CIFARFormatError, match=r"batches\.meta cannot be read"):
        load_CIFAR10(folder)


def test_file_far_larger_than_a_batch_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(data_utils, "_MAX_FILE_BYTES", 1000)
    path = write_batch(tmp_path / "b", good_batch())
    with pytest.raises(CIFARFormatError, match=r"far more than a CIFAR-10 batch"):
        load_CIFAR_batch(path)


def test_unsafe_pickle_message_says_what_to_do(tmp_path):
    path = tmp_path / "evil"
    path.write_bytes(b"cos\nsystem\n(Vtrue\ntR.")
    with pytest.raises(UnsafePickleError, match=r"os\.system.*fetch CIFAR-10 again with"):
        load_CIFAR_batch(path)


def test_keys_in_a_wrong_batch_are_shown_short(tmp_path):
    path = write_batch(tmp_path / "b", {b"x" * 10_000: 1, **{f"k{i}": i for i in range(20)}})
    with pytest.raises(CIFARFormatError, match=r"no b'data' entry") as info:
        load_CIFAR_batch(path)
    assert len(str(info.value)) < 1200


# --- synthetic data --------------------------------------------------------------------------

def test_synthetic_is_deterministic_per_seed(tmp_path):
    a = write_synthetic_cifar10(tmp_path / "a", per_batch=30, test_size=20, seed=3)
    b = write_synthetic_cifar10(tmp_path / "b", per_batch=30, test_size=20, seed=3)
    c = write_synthetic_cifar10(tmp_path / "c", per_batch=30, test_size=20, seed=4)
    for name in TRAIN + ["test_batch", "batches.meta"]:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "data_batch_1").read_bytes() != (c / "data_batch_1").read_bytes()


def test_synthetic_files_have_the_cifar_format(synthetic_cifar10):
    meta = raw(synthetic_cifar10, "batches.meta")
    assert [n.decode() for n in meta[b"label_names"]] == list(CLASSES) and meta[b"synthetic"] is True
    for name, n in [("data_batch_1", 100), ("test_batch", 100)]:
        batch = raw(synthetic_cifar10, name)
        assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
        assert batch[b"data"].shape == (n, 3072) and batch[b"data"].dtype == np.uint8
        assert len(batch[b"filenames"]) == n
        assert np.bincount(batch[b"labels"], minlength=10).tolist() == [n // 10] * 10


def test_synthetic_classes_are_learnable(synthetic_cifar10):
    # Nearest class mean on raw pixels: far above chance (0.1) if the classes are learnable.
    d = get_CIFAR10_data(500, 0, 100, root=synthetic_cifar10)
    X, y = d["X_train"].reshape(500, -1), d["y_train"]
    means = np.stack([X[y == k].mean(axis=0) for k in range(10)])
    Xt = d["X_test"].reshape(100, -1)
    pred = np.argmin(((Xt[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    assert (pred == d["y_test"]).mean() > 0.5


def test_synthetic_refuses_to_overwrite(synthetic_cifar10):
    before = (synthetic_cifar10 / "data_batch_1").read_bytes()
    with pytest.raises(FileExistsError):
        write_synthetic_cifar10(synthetic_cifar10.parent, per_batch=10)
    assert (synthetic_cifar10 / "data_batch_1").read_bytes() == before


@pytest.mark.parametrize("per_batch", [0, 10001, 2.5])
def test_synthetic_bad_sizes(tmp_path, per_batch):
    with pytest.raises(ValueError, match="per_batch must be an integer in"):
        write_synthetic_cifar10(tmp_path, per_batch=per_batch)


def test_synthetic_cli(tmp_path, capsys):
    assert synthetic_main(["--dir", str(tmp_path), "--per-batch", "10", "--test", "20"]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    assert load_CIFAR_batch(tmp_path / "cifar-10-batches-py" / "test_batch")[0].shape == (20, 3, 32, 32)
    assert synthetic_main(["--dir", str(tmp_path), "--per-batch", "10"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_synthetic_only_when_asked_and_always_announced():
    with pytest.raises(CIFAR10NotFoundError):  # no data, not asked: an error, not a silent fallback
        get_CIFAR10_data(10, 10, 10)
    with pytest.warns(SyntheticDataWarning, match="synthetic=True"):
        d = get_CIFAR10_data(123, 45, 6, synthetic=True)
    assert [len(d[k]) for k in ("X_train", "X_val", "X_test")] == [123, 45, 6]


def test_synthetic_by_environment_variable(monkeypatch):
    monkeypatch.setenv("CS231N_SYNTHETIC_DATA", "1")
    with pytest.warns(SyntheticDataWarning, match="CS231N_SYNTHETIC_DATA"):
        d = get_CIFAR10_data(20, 10, 10)
    assert d["X_train"].shape == (20, 3, 32, 32)


def test_synthetic_with_root_is_ambiguous(synthetic_cifar10):
    with pytest.raises(ValueError, match="either root"):
        get_CIFAR10_data(10, 10, 10, root=synthetic_cifar10, synthetic=True)


def test_folder_without_synthetic_flag_loads_silently(synthetic_cifar10, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in TRAIN + ["test_batch"]:
        (folder / name).write_bytes((synthetic_cifar10 / name).read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_CIFAR10_data(10, 10, 10, root=folder)


# --- memory ----------------------------------------------------------------------------------

_PROBE = """
import json, resource, sys, time
import numpy as np
from cs231n.data_utils import get_CIFAR10_data
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
base = peak()
t = time.perf_counter()
d = get_CIFAR10_data(*json.loads(sys.argv[1]), dtype=np.dtype(sys.argv[2]), root=sys.argv[3] or None)
seconds = time.perf_counter() - t
print(json.dumps({"extra": peak() - base, "nbytes": sum(v.nbytes for v in d.values()), "seconds": seconds,
                  "shapes": {k: list(v.shape) for k, v in d.items()}, "dtypes": {k: str(v.dtype) for k, v in d.items()},
                  "contiguous": all(v.flags.c_contiguous for v in d.values()),
                  "train_mean": float(d["X_train"].mean(dtype=np.float64))}))
"""


def measure(sizes, dtype, root):
    """Peak RSS growth of get_CIFAR10_data in a fresh process, relative to the returned bytes."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONWARNINGS="ignore")
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(sizes), dtype, str(root or "")],
                         capture_output=True, text=True, env=env, check=True).stdout
    result = json.loads(out)
    return result["extra"] / result["nbytes"], result


@pytest.fixture(scope="module")
def medium_synthetic(tmp_path_factory):
    return write_synthetic_cifar10(tmp_path_factory.mktemp("medium"), per_batch=2000, test_size=1000)


@pytest.mark.skipif(sys.platform == "win32", reason="resource module is POSIX only")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_peak_memory_close_to_returned_arrays(medium_synthetic, dtype):
    ratio, result = measure([9000, 1000, 1000], dtype, medium_synthetic)
    assert result["nbytes"] == 11000 * 3072 * np.dtype(dtype).itemsize + 11000 * 8
    assert ratio <= 1.3, result


# --- the real CIFAR-10 -----------------------------------------------------------------------

@pytest.mark.realdata
def test_real_cifar10_counts_classes_and_means():
    Xtr, ytr, Xte, yte = load_CIFAR10()
    assert Xtr.shape == (50000, 3, 32, 32) and Xte.shape == (10000, 3, 32, 32)
    assert np.bincount(ytr).tolist() == [5000] * 10 and np.bincount(yte).tolist() == [1000] * 10
    means = Xtr.mean(axis=(0, 2, 3), dtype=np.float64)
    np.testing.assert_allclose(means, [125.3, 123.0, 113.9], atol=0.15)


@pytest.mark.realdata
@pytest.mark.skipif(sys.platform == "win32", reason="resource module is POSIX only")
def test_real_get_CIFAR10_data_shapes_and_peak_memory():
    ratio, result = measure([49000, 1000, 1000], "float32", None)  # in a fresh process, for the memory
    assert result["shapes"] == {"X_train": [49000, 3, 32, 32], "y_train": [49000], "X_val": [1000, 3, 32, 32],
                                "y_val": [1000], "X_test": [1000, 3, 32, 32], "y_test": [1000]}
    assert set(result["dtypes"].values()) == {"float32", "int64"} and result["contiguous"]
    assert abs(result["train_mean"]) < 1e-3
    assert ratio <= 1.3, result


@pytest.mark.realdata
def test_real_files_need_only_the_allowed_globals():
    for name in ["batches.meta", "data_batch_1", "test_batch"]:
        data = (cifar10_dir() / name).read_bytes()
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                assert tuple(arg.split(" ")) in data_utils._ALLOWED_GLOBALS, arg
