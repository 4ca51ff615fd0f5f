"""Tests of the submission collector (cs231n/submission.py and collect_submission.sh).

Every test works on a small fake student tree in tmp_path, so none depends on the real package.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cs231n import submission

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "collect_submission.sh"
COLLECTOR = REPO / "cs231n" / "submission.py"


def notebook(executed=True, error=False, empty_cell=False):
    """A minimal nbformat-4 notebook as a dict."""
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n"]},
        {"cell_type": "code", "metadata": {}, "source": ["x = 1\n", "print(x)"],
         "execution_count": 1 if executed else None,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}] if executed else []},
        {"cell_type": "code", "metadata": {}, "source": "y = x + 1",
         "execution_count": 2 if executed else None, "outputs": []},
    ]
    if error:
        cells[2]["outputs"] = [{"output_type": "error", "ename": "NotImplementedError",
                                "evalue": "TODO", "traceback": []}]
    if empty_cell:
        cells.append({"cell_type": "code", "metadata": {}, "source": "  \n",
                      "execution_count": None, "outputs": []})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def make_tree(root, **nb_kwargs):
    """A complete, executed student tree plus things that must never be packed."""
    for rel in submission.NOTEBOOKS:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(notebook(**nb_kwargs)))
    for rel in submission.PACKAGE_FILES + ("cs231n/__init__.py", "cs231n/solver.py",
                                           "cs231n/classifiers/__init__.py"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {rel}\nVALUE = 1\n")
    extras = {
        "cs231n/__pycache__/layers.cpython-311.pyc": b"\0" * 10,
        "cs231n/.ipynb_checkpoints/layers-checkpoint.py": b"x = 1\n",
        "cs231n/weights.npz": b"\0" * 10,
        "notebooks/.ipynb_checkpoints/Dropout-checkpoint.ipynb": b"{}",
        "notebooks/html/Dropout.html": b"<html/>",
        "notebooks/scratch.txt": b"notes",
        "datasets/cifar-10-batches-py/data_batch_1": b"\0" * 100,
        ".venv/lib/site.py": b"x = 1\n",
        ".git/HEAD": b"ref: refs/heads/main\n",
        "checkpoints/epoch1.pkl": b"\0",
        "README.md": b"readme\n",
    }
    for rel, data in extras.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


EXPECTED = sorted(
    list(submission.NOTEBOOKS) + list(submission.PACKAGE_FILES)
    + ["cs231n/__init__.py", "cs231n/solver.py", "cs231n/classifiers/__init__.py"])


def snapshot(root):
    """Every file under root with its bytes and modification time."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_main(tree, *args):
    return submission.main(["--tree", str(tree), *args])


def test_good_tree_packs_exactly_the_notebooks_and_package(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    before = snapshot(tree)
    assert run_main(tree) == 0
    out = capsys.readouterr().out
    with zipfile.ZipFile(tree / "a2.zip") as zf:
        assert sorted(zf.namelist()) == EXPECTED
        assert zf.read("cs231n/layers.py") == (tree / "cs231n/layers.py").read_bytes()
    assert "Packed 12 file(s)" in out and "cs231n/classifiers/cnn.py" in out and "Wrote" in out
    after = snapshot(tree)
    assert after.pop("a2.zip")
    assert after == before  # nothing of the student's changed
    assert not [p for p in tree.iterdir() if p.name.endswith(".tmp")]


def test_missing_files_are_all_listed_and_nothing_is_written(tmp_path, capsys):
    tree = make_tree(tmp_path)
    (tree / "notebooks/Dropout.ipynb").unlink()
    (tree / "cs231n/optim.py").unlink()
    before = snapshot(tree)
    assert run_main(tree) == 1
    err = capsys.readouterr().err
    assert "notebooks/Dropout.ipynb: missing" in err
    assert "cs231n/optim.py: missing" in err
    assert "Found 2 problem(s)" in err
    assert snapshot(tree) == before


def test_unexecuted_notebook_is_a_problem(tmp_path, capsys):
    tree = make_tree(tmp_path)
    (tree / "notebooks/BatchNormalization.ipynb").write_text(json.dumps(notebook(executed=False)))
    assert run_main(tree) == 1
    err = capsys.readouterr().err
    assert "BatchNormalization.ipynb: never run (none of its 2 code cells has run)" in err
    assert not (tree / "a2.zip").exists()


def test_error_output_is_a_warning_listed_at_the_end(tmp_path, capsys):
    # A failed check (e.g. an accuracy floor) must not make submitting impossible.
    tree = make_tree(tmp_path)
    (tree / "notebooks/ConvolutionalNetworks.ipynb").write_text(json.dumps(notebook(error=True)))
    assert run_main(tree) == 0
    out = capsys.readouterr().out
    warning = "  ! notebooks/ConvolutionalNetworks.ipynb: code cell 2 ended in an error: NotImplementedError: TODO"
    assert warning in out and out.index(warning) > out.index("Packed")
    assert out.rstrip().endswith("warning(s).") and (tree / "a2.zip").exists()
    (tree / "a2.zip").unlink()
    assert run_main(tree, "--strict") == 1  # --strict: warnings block too
    assert "code cell 2 ended in an error" in capsys.readouterr().err and not (tree / "a2.zip").exists()


def test_empty_code_cells_need_no_execution_count(tmp_path):
    tree = make_tree(tmp_path, empty_cell=True)
    assert run_main(tree) == 0


def test_invalid_notebook_and_syntax_error_are_problems(tmp_path, capsys):
    tree = make_tree(tmp_path)
    (tree / "notebooks/Dropout.ipynb").write_text("{not json")
    (tree / "cs231n/layers.py").write_text("def f(:\n    pass\n")
    assert run_main(tree) == 1
    err = capsys.readouterr().err
    assert "notebooks/Dropout.ipynb: not a valid notebook" in err
    assert "cs231n/layers.py:1: syntax error" in err


def test_force_packs_anyway_with_a_warning(tmp_path, capsys):
    tree = make_tree(tmp_path)
    (tree / "notebooks/Dropout.ipynb").write_text(json.dumps(notebook(error=True)))
    (tree / "cs231n/cnn_missing.py").write_text("")
    (tree / "cs231n/classifiers/cnn.py").unlink()
    assert run_main(tree, "--force") == 0
    err = capsys.readouterr().err
    assert "WARNING: --force" in err and "cs231n/classifiers/cnn.py: missing" in err
    with zipfile.ZipFile(tree / "a2.zip") as zf:
        assert "notebooks/Dropout.ipynb" in zf.namelist()
        assert "cs231n/classifiers/cnn.py" not in zf.namelist()


def test_existing_zip_is_never_replaced_without_overwrite(tmp_path, capsys):
    tree = make_tree(tmp_path)
    (tree / "a2.zip").write_bytes(b"my precious old zip")
    assert run_main(tree) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tree / "a2.zip").read_bytes() == b"my precious old zip"
    assert run_main(tree, "--overwrite") == 0
    with zipfile.ZipFile(tree / "a2.zip") as zf:
        assert sorted(zf.namelist()) == EXPECTED


def test_output_name_can_be_chosen_and_must_be_a_zip(tmp_path, capsys):
    tree = make_tree(tmp_path / "tree")
    out = tmp_path / "mine.zip"
    assert run_main(tree, "-o", str(out)) == 0
    assert out.is_file() and not (tree / "a2.zip").exists()
    assert run_main(tree, "-o", str(tmp_path / "mine.tar")) == 2
    assert "must end in .zip" in capsys.readouterr().err
    assert run_main(tree, "-o", str(tmp_path / "no_such_dir" / "x.zip")) == 2


def test_files_over_the_size_limit_are_left_out_and_listed(tmp_path, capsys):
    tree = make_tree(tmp_path)
    (tree / "cs231n/big_table.txt").write_bytes(b"x" * 300_000)
    assert run_main(tree, "--max-file-mb", "0.1") == 0
    out = capsys.readouterr().out
    assert "left out cs231n/big_table.txt" in out
    with zipfile.ZipFile(tree / "a2.zip") as zf:
        assert "cs231n/big_table.txt" not in zf.namelist()


def test_required_notebook_over_the_size_limit_is_a_problem(tmp_path, capsys):
    tree = make_tree(tmp_path)
    nb = notebook()
    nb["cells"][1]["outputs"][0]["text"] = ["x" * 200_000]
    (tree / "notebooks/Dropout.ipynb").write_text(json.dumps(nb))
    assert run_main(tree, "--max-file-mb", "0.1") == 1
    err = capsys.readouterr().err
    assert "notebooks/Dropout.ipynb: 19" in err and "KB, over the 102.4 KB limit per file" in err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "ten"])
def test_bad_usage(tmp_path, capsys, value):
    assert run_main(tmp_path / "nope") == 2
    with pytest.raises(SystemExit) as info:
        run_main(make_tree(tmp_path), f"--max-file-mb={value}")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--max-file-mb" in err and ("positive, finite number" in err or "not a number" in err)
    assert "Traceback" not in err and not (tmp_path / "a2.zip").exists()


def test_a_failed_write_leaves_no_zip_and_no_temporary_file(tmp_path, monkeypatch, capsys):
    tree = make_tree(tmp_path)

    def broken_write(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "open", broken_write)
    before = snapshot(tree)
    assert run_main(tree) == 2
    assert "disk full" in capsys.readouterr().err
    assert snapshot(tree) == before


def test_notes_remaining_todo_stubs(tmp_path, capsys):
    tree = make_tree(tmp_path)
    (tree / "cs231n/optim.py").write_text('def adam(w, dw, config=None):\n'
                                          '    raise NotImplementedError("TODO: implement adam")\n')
    assert run_main(tree) == 0
    assert "  ! cs231n/optim.py still contains unimplemented TODO stubs" in capsys.readouterr().out


# --- the shell wrapper -------------------------------------------------------------------------

def _bin_dir(tmp_path, with_python=True):
    """A PATH folder with only what the wrapper may use: dirname and (optionally) python3."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dirname").symlink_to(shutil.which("dirname"))
    if with_python:
        (bindir / "python3").symlink_to(sys.executable)
    return bindir


def _copy_tools(tree):
    shutil.copy2(SCRIPT, tree / "collect_submission.sh")
    shutil.copy2(COLLECTOR, tree / "cs231n" / "submission.py")


def test_wrapper_works_without_the_zip_program_from_any_folder(tmp_path):
    tree = make_tree(tmp_path / "a2")
    _copy_tools(tree)
    bindir = _bin_dir(tmp_path)
    env = {"PATH": str(bindir), "HOME": str(tmp_path)}
    assert shutil.which("zip", path=env["PATH"]) is None
    proc = subprocess.run(["/bin/bash", str(tree / "collect_submission.sh")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Wrote" in proc.stdout
    with zipfile.ZipFile(tree / "a2.zip") as zf:
        assert "cs231n/submission.py" in zf.namelist()
        assert "collect_submission.sh" not in zf.namelist()


def test_wrapper_passes_failures_through(tmp_path):
    tree = make_tree(tmp_path / "a2")
    _copy_tools(tree)
    (tree / "cs231n/layers.py").unlink()
    env = {"PATH": str(_bin_dir(tmp_path)), "HOME": str(tmp_path)}
    proc = subprocess.run(["/bin/bash", str(tree / "collect_submission.sh")], cwd=tree,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "cs231n/layers.py: missing" in proc.stderr
    assert not (tree / "a2.zip").exists()


def test_wrapper_without_python_says_so(tmp_path):
    tree = make_tree(tmp_path / "a2")
    _copy_tools(tree)
    env = {"PATH": str(_bin_dir(tmp_path, with_python=False)), "HOME": str(tmp_path)}
    proc = subprocess.run(["/bin/bash", str(tree / "collect_submission.sh")], cwd=tree,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 127
    assert "no python3" in proc.stderr


def test_collector_runs_as_a_module_with_help():
    proc = subprocess.run([sys.executable, "-m", "cs231n.submission", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--overwrite" in proc.stdout and "--force" in proc.stdout


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symbolic_links_are_not_followed(tmp_path):
    tree = make_tree(tmp_path / "a2")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "big.py").write_text("x = 1\n")
    (tree / "cs231n" / "linked").symlink_to(outside)
    (tree / "cs231n" / "link.py").symlink_to(outside / "big.py")
    assert run_main(tree) == 0
    with zipfile.ZipFile(tree / "a2.zip") as zf:
        assert sorted(zf.namelist()) == EXPECTED


# --- links: packed only when they lead inside the tree, for files and folders alike ------------

def _outside(tmp_path):
    """A folder outside the tree with a secret in it."""
    secret = tmp_path / "home" / ".ssh"
    secret.mkdir(parents=True)
    (secret / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    return secret


def _names(zip_path):
    with zipfile.ZipFile(zip_path) as zf:
        return sorted(zf.namelist())


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_required_file_linked_inside_the_tree_is_packed_with_its_content(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    (tree / "my_layers.py").write_text("def affine_forward(x, w, b, p):\n    return 1\n")
    (tree / "cs231n/layers.py").unlink()
    (tree / "cs231n/layers.py").symlink_to("../my_layers.py")
    assert run_main(tree) == 0
    with zipfile.ZipFile(tree / "a2.zip") as zf:
        assert zf.read("cs231n/layers.py") == (tree / "my_layers.py").read_bytes()
    assert "Wrote" in capsys.readouterr().out


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_required_file_linked_outside_the_tree_blocks(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    (tmp_path / "elsewhere.py").write_text("x = 1\n")
    (tree / "cs231n/layers.py").unlink()
    (tree / "cs231n/layers.py").symlink_to(tmp_path / "elsewhere.py")
    assert run_main(tree) == 1
    out, err = capsys.readouterr()
    assert "cs231n/layers.py: a link to" in err and "outside your assignment folder" in err
    assert "Wrote" not in out and not (tree / "a2.zip").exists()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
@pytest.mark.parametrize("folder", ["cs231n", "notebooks"])
def test_folder_linked_outside_the_tree_blocks_and_is_never_packed(tmp_path, capsys, folder):
    tree = make_tree(tmp_path / "a2")
    secret = _outside(tmp_path)
    shutil.copytree(tree / folder, secret / folder)
    (secret / folder / "id_rsa.ipynb").write_text("{}")  # would be packed if the link were followed
    shutil.rmtree(tree / folder)
    (tree / folder).symlink_to(secret / folder)
    assert run_main(tree) == 1
    assert "outside your assignment folder" in capsys.readouterr().err
    assert run_main(tree, "--force") == 0
    names = _names(tree / "a2.zip")
    assert not [n for n in names if n.startswith(folder + "/")] and "id_rsa" not in " ".join(names)
    assert f"left out {folder}: a link to" in capsys.readouterr().out


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_folder_linked_inside_the_tree_is_packed(tmp_path):
    tree = make_tree(tmp_path / "a2")
    (tree / "src").mkdir()
    shutil.move(tree / "cs231n", tree / "src" / "cs231n")
    (tree / "cs231n").symlink_to("src/cs231n")
    assert run_main(tree) == 0
    assert _names(tree / "a2.zip") == EXPECTED


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_links_inside_the_package_to_outside_are_reported_and_loops_end(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    secret = _outside(tmp_path)
    (tree / "cs231n/keys").symlink_to(secret)
    (tree / "cs231n/key.py").symlink_to(secret / "id_rsa")
    (tree / "cs231n/loop").symlink_to(".")
    (tree / "cs231n/dangling.py").symlink_to(tmp_path / "a2" / "nothing-here.py")
    (tree / "cs231n/weights.npz").unlink()
    (tree / "cs231n/weights.npz").symlink_to(secret / "id_rsa")  # never packed anyway: not reported
    assert run_main(tree) == 0
    out = capsys.readouterr().out
    assert "weights.npz" not in out
    assert _names(tree / "a2.zip") == EXPECTED
    assert "! left out cs231n/keys: a link to" in out and "! left out cs231n/key.py: a link to" in out
    assert "! left out cs231n/loop: a link to a folder that contains it" in out
    assert "! left out cs231n/dangling.py: a broken link" in out


# --- odd names, odd options, unreadable files, permissions ---------------------------------------

@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="file names must be UTF-8 there")
def test_file_names_that_are_not_utf8_are_reported_not_a_traceback(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    for folder, name in (("cs231n", b"caf\xe9.py"), ("notebooks", b"Copie de Dropout \xe9.ipynb")):
        with open(os.path.join(os.fsencode(tree / folder), name), "wb") as f:
            f.write(b"x = 1\n")
    assert run_main(tree) == 0
    out = capsys.readouterr().out
    assert out.count("its name is not valid UTF-8") == 2 and "caf\ufffd.py" in out
    assert _names(tree / "a2.zip") == EXPECTED


def _unreadable(monkeypatch, name):
    """Make the collector's own open() of files called ``name`` fail as a permission error would."""
    real_open = open

    def fake_open(path, *args, **kwargs):
        if os.path.basename(os.fspath(path)) == name:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(submission, "open", fake_open, raising=False)


def test_unreadable_optional_file_is_left_out_with_a_read_error(tmp_path, monkeypatch, capsys):
    tree = make_tree(tmp_path / "a2")
    (tree / "cs231n/private_notes.py").write_text("x = 1\n")
    _unreadable(monkeypatch, "private_notes.py")
    assert run_main(tree) == 0
    out = capsys.readouterr().out
    assert "! left out cs231n/private_notes.py: cannot be read (Permission denied)" in out
    assert _names(tree / "a2.zip") == EXPECTED


def test_unreadable_required_file_blocks_and_wrote_is_never_printed(tmp_path, monkeypatch, capsys):
    tree = make_tree(tmp_path / "a2")
    _unreadable(monkeypatch, "optim.py")
    assert run_main(tree) == 1
    out, err = capsys.readouterr()
    assert "cs231n/optim.py: would not be packed (cannot be read (Permission denied))" in err
    assert "Wrote" not in out and not (tree / "a2.zip").exists()


def test_file_vanishing_while_packing_is_a_read_error_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    tree = make_tree(tmp_path / "a2")
    (tree / "cs231n/extra.py").write_text("x = 1\n")
    select = submission.select_files

    def select_then_remove(*args, **kwargs):
        chosen = select(*args, **kwargs)
        (tree / "cs231n/extra.py").unlink()
        return chosen

    monkeypatch.setattr(submission, "select_files", select_then_remove)
    assert run_main(tree) == 2
    err = capsys.readouterr().err
    assert "error: cannot read cs231n/extra.py: No such file or directory" in err and "could not write" not in err
    assert not (tree / "a2.zip").exists() and not list(tree.glob(".a2.zip*"))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_by_permissions(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    (tree / "cs231n/private_notes.py").write_text("x = 1\n")
    (tree / "cs231n/private_notes.py").chmod(0)
    assert run_main(tree) == 0
    assert "left out cs231n/private_notes.py: cannot be read" in capsys.readouterr().out


@pytest.mark.skipif(not hasattr(os, "umask"), reason="POSIX permissions")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_zip_gets_the_permissions_of_any_new_file(tmp_path, umask, mode):
    tree = make_tree(tmp_path / "a2")
    old = os.umask(umask)
    try:
        assert run_main(tree) == 0
    finally:
        os.umask(old)
    assert (tree / "a2.zip").stat().st_mode & 0o777 == mode


# --- the whole assignment: what blocks, what warns ---------------------------------------------

def _answer_cell(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def test_blank_inline_answers_warn(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    nb = notebook()
    nb["cells"] += [_answer_cell("### Inline question 1\n\nWhy?\n\n*Your answer:* _fill this in_\n"),
                    _answer_cell("### Inline question 2\n\n*Your answer:* dropout scales by 1/p.\n"),
                    _answer_cell(["**Inline Question 3:**\n", "\n", "*Your answer:* _fill this in_"])]
    (tree / "notebooks/Dropout.ipynb").write_text(json.dumps(nb))
    assert run_main(tree) == 0
    out = capsys.readouterr().out
    assert ("! notebooks/Dropout.ipynb: 2 inline answer(s) still blank: cell 4 (Inline question 1); "
            "cell 6 (Inline Question 3:)") in out


def test_run_stopped_at_a_failed_check_warns_and_still_packs(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    nb = notebook(error=True)
    nb["cells"][2]["outputs"][0].update(ename="AssertionError", evalue="validation accuracy 0.46 < 0.47")
    nb["cells"].append({"cell_type": "code", "metadata": {}, "source": "z = 3", "execution_count": None,
                        "outputs": []})
    (tree / "notebooks/ConvolutionalNetworks.ipynb").write_text(json.dumps(nb))
    assert run_main(tree) == 0
    out = capsys.readouterr().out
    assert ("! notebooks/ConvolutionalNetworks.ipynb: code cell 2 ended in an error: AssertionError: "
            "validation accuracy 0.46 < 0.47") in out
    assert ("! notebooks/ConvolutionalNetworks.ipynb: 1 code cell(s) never ran (the run stopped at the "
            "error in code cell 2): code cells 3") in out
    assert "notebooks/ConvolutionalNetworks.ipynb" in _names(tree / "a2.zip")


def test_never_run_required_notebook_blocks_even_with_a_blank_answer(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    nb = notebook(executed=False)
    nb["cells"].append(_answer_cell("*Your answer:* _fill this in_"))
    (tree / "notebooks/FullyConnectedNets.ipynb").write_text(json.dumps(nb))
    assert run_main(tree) == 1
    assert "notebooks/FullyConnectedNets.ipynb: never run" in capsys.readouterr().err


def test_pytorch_notebook_is_optional(tmp_path, capsys):
    tree = make_tree(tmp_path / "a2")
    assert run_main(tree) == 0
    assert "! notebooks/PyTorch.ipynb (optional) is not there" in capsys.readouterr().out
    (tree / "notebooks/PyTorch.ipynb").write_text(json.dumps(notebook(executed=False)))
    assert run_main(tree, "--overwrite") == 0  # never run: a warning, not a problem
    assert "! notebooks/PyTorch.ipynb: never run" in capsys.readouterr().out
    (tree / "notebooks/PyTorch.ipynb").write_text(json.dumps(notebook()))
    assert run_main(tree, "--overwrite") == 0
    assert "warning" not in capsys.readouterr().out  # a complete tree with all five: no warnings at all
    assert "notebooks/PyTorch.ipynb" in _names(tree / "a2.zip")


# --- started without importing the student's package and without writing bytecode -------------

def _broken_package(tree):
    """A student package whose import fails, plus a module that shadows the standard library."""
    (tree / "cs231n/__init__.py").write_text("raise RuntimeError('broken package imported')\n")
    (tree / "cs231n/layers.py").write_text("import numpy\nraise RuntimeError('broken layers imported')\n")
    (tree / "cs231n/json.py").write_text("raise RuntimeError('json shadowed by the student tree')\n")
    (tree / "cs231n/zipfile.py").write_text("raise RuntimeError('zipfile shadowed by the student tree')\n")


def _pycaches(tree):
    return [p for p in tree.rglob("__pycache__")]


@pytest.mark.parametrize("how", ["script", "isolated-file", "plain-file"])
def test_collector_never_imports_the_tree_nor_writes_bytecode(tmp_path, how):
    tree = make_tree(tmp_path / "a2")
    shutil.rmtree(tree / "cs231n/__pycache__")
    _copy_tools(tree)
    _broken_package(tree)
    env = {"PATH": str(_bin_dir(tmp_path)), "HOME": str(tmp_path)}
    command = {"script": ["/bin/bash", str(tree / "collect_submission.sh")],
               "isolated-file": [sys.executable, "-I", "-B", "cs231n/submission.py"],
               "plain-file": [sys.executable, "cs231n/submission.py"]}[how]
    proc = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Wrote" in proc.stdout
    assert _pycaches(tree) == []


def test_module_form_imports_only_the_package_init(tmp_path):
    # `python -m` must import cs231n/__init__.py (Python does so before any of our code runs);
    # it imports nothing else of the student's, and -B keeps the tree free of bytecode.
    tree = make_tree(tmp_path / "a2")
    shutil.rmtree(tree / "cs231n/__pycache__")
    _copy_tools(tree)
    _broken_package(tree)
    (tree / "cs231n/__init__.py").write_text('"""Given code."""\n')
    proc = subprocess.run([sys.executable, "-B", "-m", "cs231n.submission"], cwd=tree, capture_output=True,
                          text=True, timeout=60, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert _pycaches(tree) == []
