"""Acceptance tests of the class grader (course/batch.py, course/submissions.py).

One batch of mixed submissions (good, partial, broken, empty, malicious, hanging, memory-hungry,
lying) is graded once through the real command line (module fixture, about a minute on a shared
machine); each test then checks one student's row, the feedback files, and that nothing was
written outside OUT_DIR and the scratch folders. The unit tests below it cover the zip limits.
"""

import csv
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course import fakeclass
from course.submissions import Limits, SubmissionError, extract_zip, materialize

REPO = Path(__file__).resolve().parents[2]
LAYERS, OPTIM = "cs231n/layers.py", "cs231n/optim.py"

LOOP = "while True:\n    pass\n"
HOG = "import numpy as np\nhog = np.ones(1 << 36, dtype=np.uint8)\nhog[:] = 1\n"
LIAR = ('import sys\nprint("TOTAL 100/100")\n'
        'print(\'{"event": "end", "check": "adam_steps", "status": "pass", "message": "", "seconds": 0}\')\n'
        'sys.exit(0)\n')
WRITER = ('import os, tempfile\nif not os.path.exists("left_behind.txt"):\n'
          '    open("left_behind.txt", "w").write("x")\n'
          '    open(os.path.join(tempfile.gettempdir(), "left_behind_tmp.txt"), "w").write("x")\n')



def _default_sigint():
    """In the child: SIGINT as Python expects it, even when pytest runs in a background job, whose
    children inherit SIGINT ignored (a program started so keeps ignoring it, by convention)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def _tree_digest(folder):
    h = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        h.update(str(path.relative_to(folder)).encode())
        if path.is_file() and not path.is_symlink():
            h.update(path.read_bytes())
    return h.hexdigest()


def _files_with(files, rel, function, body):
    region = fakeclass.region_of(files, rel, function)
    return fakeclass.submission_files(replace={region: body}, files=files)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("batch")
    subs, out, scratch, tmp = base / "subs", base / "out", base / "scratch", base / "tmp"
    for d in (subs, scratch, tmp):
        d.mkdir()
    files = fakeclass.student_files()
    fakeclass.write_zip(subs / "good.zip", fakeclass.submission_files(files=files))
    partial = fakeclass.submission_files(stub=[fakeclass.region_of(files, LAYERS, "conv_backward_naive"),
                                              fakeclass.region_of(files, LAYERS, "max_pool_backward_naive")],
                                         files=files)
    fakeclass.write_folder(subs / "partial", partial)
    fakeclass.write_zip(subs / "loop.zip", _files_with(files, OPTIM, "sgd_momentum", LOOP))
    fakeclass.write_zip(subs / "hog.zip", _files_with(files, OPTIM, "rmsprop", HOG))
    fakeclass.write_zip(subs / "liar.zip", _files_with(files, OPTIM, "adam", LIAR))
    fakeclass.write_zip(subs / "writer.zip", _files_with(files, LAYERS, "relu_forward", fakeclass.PREPEND + WRITER))
    (subs / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    (subs / "empty.zip").write_bytes(b"")
    with zipfile.ZipFile(subs / "traversal.zip", "w") as zf:
        zf.writestr("a2/cs231n/__init__.py", "")
        zf.writestr("../../escaped.txt", "x")
    with zipfile.ZipFile(subs / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a2/cs231n/__init__.py", "")
        zf.writestr("a2/zeros.bin", bytes(30 * 2**20))
    with zipfile.ZipFile(subs / "symlink.zip", "w") as zf:  # the good files plus a link to /etc/passwd
        for rel, text in fakeclass.submission_files(files=files).items():
            zf.writestr(f"a2/{rel}", text)
        link = zipfile.ZipInfo("a2/cs231n/passwd")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with zipfile.ZipFile(subs / "nopackage.zip", "w") as zf:
        zf.writestr("README.txt", "I forgot the code")
    (subs / "notes.txt").write_text("not a submission")
    before = _tree_digest(subs)
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.run(
        [sys.executable, "-m", "course.batch", str(subs), str(out), "--jobs", "2", "--check-timeout", "8",
         "--submission-timeout", "150", "--memory-mb", "1024", "--scratch", str(scratch), "-q"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    results = {r["student"]: r for r in json.loads((out / "results.json").read_text())}
    return {"rows": rows, "results": results, "out": out, "subs": subs, "scratch": scratch, "tmp": tmp,
            "base": base, "before": before}


def test_every_submission_has_a_row(graded):
    assert set(graded["rows"]) == {"good", "partial", "loop", "hog", "liar", "writer", "broken", "empty",
                                   "traversal", "bomb", "symlink", "nopackage", "notes.txt"}
    assert sorted(graded["rows"]) == list(graded["rows"])  # sorted by student id


def test_good_and_partial(graded):
    rows, results = graded["rows"], graded["results"]
    possible = sum(c["points"] for c in results["good"]["checks"])
    assert possible >= 100 and rows["good"]["possible"] == f"{possible:g}"
    assert rows["good"]["status"] == "graded" and rows["good"]["total"] == rows["good"]["possible"]
    assert rows["good"]["percent"] == "100.0" and rows["good"]["problems"] == ""
    lost_titles = [c["title"] for c in results["partial"]["checks"] if c["status"] != "pass"]
    assert lost_titles and all("conv_backward_naive" in t or "max_pool_backward_naive" in t for t in lost_titles)
    lost = [c for c in results["partial"]["checks"] if c["status"] != "pass"]
    assert rows["partial"]["total"] == f"{possible - sum(c['points'] for c in lost):g}"
    assert all(rows["partial"][c["id"]] == "0" for c in lost)
    assert rows["partial"]["Q1.affine_forward_values"] == "2"


@pytest.mark.parametrize("student, function, status", [
    ("loop", "sgd_momentum", "timeout"), ("hog", "rmsprop", None), ("liar", "adam", "error")])
def test_misbehaving_code_loses_exactly_its_check(graded, student, function, status):
    result = graded["results"][student]
    lost = [c for c in result["checks"] if c["status"] != "pass"]
    assert lost and all(function in c["title"] for c in lost)  # only checks of that function lost points
    if status:
        assert {c["status"] for c in lost} == {status}
    row = graded["rows"][student]
    assert row["status"] == "graded"
    assert row["total"] == f"{float(row['possible']) - sum(c['points'] for c in lost):g}"


def test_refused_zips_are_rows_with_the_reason(graded):
    rows = graded["rows"]
    expect = {"broken": "not a readable zip", "empty": "empty", "traversal": "unsafe path",
              "bomb": "zip bomb", "nopackage": "no cs231n package", "notes.txt": "neither a .zip"}
    for student, words in expect.items():
        assert rows[student]["status"] == "not graded", student
        assert rows[student]["total"] == "0"
        assert words in rows[student]["problems"], (student, rows[student]["problems"])


def test_symlinks_are_left_out_and_reported(graded):
    row = graded["rows"]["symlink"]
    assert row["status"] == "graded" and row["total"] == row["possible"]
    assert "left out the symbolic link 'a2/cs231n/passwd'" in row["problems"]


def test_nothing_written_outside_out_and_scratch(graded):
    base = graded["base"]
    assert _tree_digest(graded["subs"]) == graded["before"]  # submissions untouched
    assert list(graded["scratch"].iterdir()) == []  # scratch folders removed
    assert list(graded["tmp"].iterdir()) == []  # nothing left in the temporary folder
    names = {p.name for p in base.rglob("*")}
    assert "escaped.txt" not in names and "left_behind.txt" not in names and "left_behind_tmp.txt" not in names
    assert not (base.parent / "escaped.txt").exists()
    writer = graded["results"]["writer"]  # writing into its scratch is allowed, then removed
    assert graded["rows"]["writer"]["total"] == graded["rows"]["writer"]["possible"], [(c["title"], c["status"], c["message"][:200])
                                                        for c in writer["checks"] if c["status"] != "pass"]


def test_feedback_files_escape_student_text(graded, tmp_path):
    out = graded["out"]
    assert sorted(p.stem for p in (out / "feedback").iterdir()) == sorted(graded["rows"])
    html_text = (out / "feedback" / "partial.html").read_text()
    row = graded["rows"]["partial"]
    assert "conv_backward_naive" in html_text and f"{row['total']} / {row['possible']}" in html_text
    from course.gradebook import feedback_html, summarize
    row = summarize({"student": "x", "status": "graded", "problems": ["<script>alert(1)</script>"], "notes": [],
                     "checks": [{"id": "Q1.a", "title": "t", "part": "Q1", "points": 1, "earned": 0,
                                 "status": "fail", "message": "<img src=x onerror=alert(1)>"}],
                     "notebook_items": []})
    page = feedback_html(row, 1)
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page


def test_columns_and_csv_injection(graded):
    out = graded["out"]
    with open(out / "columns.csv", newline="") as f:
        cols = list(csv.DictReader(f))
    assert sum(float(c["points"]) for c in cols) == float(graded["rows"]["good"]["possible"])
    header = next(csv.reader(open(out / "gradebook.csv", newline="")))
    assert header[:3] == ["student", "status", "total"] and header[9:] == [c["column"] for c in cols]
    from course.gradebook import _csv_safe
    assert _csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _csv_safe("ok") == "ok"


def test_refuses_to_overwrite_what_is_not_a_gradebook(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    out.mkdir()
    (out / "mine.txt").write_text("precious")
    proc = subprocess.run([sys.executable, "-m", "course.batch", str(subs), str(out), "--overwrite"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "not a previous gradebook" in proc.stderr
    assert (out / "mine.txt").read_text() == "precious"
    proc = subprocess.run([sys.executable, "-m", "course.batch", str(subs), str(subs / "out")],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "inside the submissions folder" in proc.stderr


# ---------------------------------------------------------------------------------------------
# Zip limits (unit tests)
# ---------------------------------------------------------------------------------------------

def _zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["/etc/x", "a/../../x", "C:/x", "a\\..\\x"])
def test_unsafe_names_refused(tmp_path, name):
    z = _zip(tmp_path / "s.zip", {"ok.txt": "x", name: "y"})
    with pytest.raises(SubmissionError, match="unsafe path"):
        extract_zip(z, tmp_path / "d")
    assert not (tmp_path / "x").exists()


def test_limits(tmp_path):
    many = _zip(tmp_path / "many.zip", {f"f{i}": "" for i in range(30)})
    with pytest.raises(SubmissionError, match="entries"):
        extract_zip(many, tmp_path / "d1", Limits(max_members=20))
    big = _zip(tmp_path / "big.zip", {"a": os.urandom(300_000), "b": os.urandom(300_000)})
    with pytest.raises(SubmissionError, match="unpack to"):
        extract_zip(big, tmp_path / "d2", Limits(max_total_mb=0.5))
    with pytest.raises(SubmissionError, match="over the"):
        extract_zip(big, tmp_path / "d3", Limits(max_zip_mb=0.1))
    notes = extract_zip(big, tmp_path / "d4", Limits(max_file_mb=0.2))
    assert len(notes) == 2 and not (tmp_path / "d4" / "a").exists()


def test_forged_sizes_are_caught(tmp_path):
    """A header that under-declares the size must not let more bytes through."""
    z = _zip(tmp_path / "f.zip", {"a": bytes(3 * 2**20)})
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.infolist()[0]
    # patch the central directory's uncompressed size to 1000 bytes
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (1000).to_bytes(4, "little")
    z.write_bytes(bytes(data))
    try:
        notes = extract_zip(z, tmp_path / "d", Limits(max_file_mb=0.5, max_ratio=1e9))
    except SubmissionError:
        return
    assert (tmp_path / "d" / "a").stat().st_size <= 0.5 * 2**20, notes
    assert info.file_size == 3 * 2**20


def test_folder_copy_skips_symlinks(tmp_path):
    src = tmp_path / "src"
    (src / "cs231n").mkdir(parents=True)
    (src / "cs231n" / "__init__.py").write_text("")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (src / "cs231n" / "link.py").symlink_to(secret)
    (src / "linkdir").symlink_to(tmp_path)
    sub = materialize(src, tmp_path / "scratch")
    assert sub.root is not None and (sub.root / "cs231n" / "__init__.py").is_file()
    assert not (sub.root / "cs231n" / "link.py").exists() and not (sub.root / "linkdir").exists()
    assert len(sub.notes) == 2


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_stops_workers_and_removes_scratch(tmp_path, sig):
    import signal
    import time
    subs, out, scratch = tmp_path / "subs", tmp_path / "out", tmp_path / "scratch"
    subs.mkdir()
    scratch.mkdir()
    files = fakeclass.student_files()
    for k in range(3):
        fakeclass.write_zip(subs / f"loop{k}.zip", _files_with(files, OPTIM, "sgd_momentum", LOOP))
    proc = subprocess.Popen([sys.executable, "-m", "course.batch", str(subs), str(out), "--jobs", "2",
                             "--check-timeout", "60", "--scratch", str(scratch), "-q"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(scratch.glob("*/*/work")):
        time.sleep(0.2)
    time.sleep(3)  # the workers are grading (the loop spins)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(scratch.iterdir()) == [] and not out.exists()
    time.sleep(0.5)
    leftovers = [p for p in Path("/proc").glob("[0-9]*/cmdline") if _reads(p, str(scratch))]
    assert leftovers == []


def _reads(path, needle):
    try:
        return needle.encode() in path.read_bytes()
    except OSError:
        return False


def test_feedback_can_hide_hidden_checks():
    from course.gradebook import feedback_html, summarize
    checks = [{"id": "Q1.a", "title": "public one", "part": "Q1", "points": 2, "earned": 2, "status": "pass",
               "message": "", "visibility": "visible"},
              {"id": "Q1.b", "title": "secret edge case", "part": "Q1", "points": 3, "earned": 0, "status": "fail",
               "message": "expected 7 at N = 1", "visibility": "hidden"}]
    row = summarize({"student": "x", "status": "graded", "problems": [], "notes": [], "checks": checks,
                     "notebook_items": []})
    assert "secret edge case" in feedback_html(row, 5)
    page = feedback_html(row, 5, hide_hidden=True)
    assert "secret edge case" not in page and "expected 7" not in page
    assert "1 hidden checks" in page and "0 / 3" in page and "public one" in page


@pytest.mark.parametrize("field, value, words", [("flags", 1, "encrypted"), ("method", 99, "unsupported compression")])
def test_encrypted_or_unsupported_members_are_refused(tmp_path, field, value, words):
    z = _zip(tmp_path / "e.zip", {"a2/cs231n/__init__.py": "x = 1\n"})
    data = bytearray(z.read_bytes())
    local, central = data.find(b"PK\x03\x04"), data.rfind(b"PK\x01\x02")
    offsets = {"flags": (local + 6, central + 8), "method": (local + 8, central + 10)}[field]
    for at in offsets:
        data[at:at + 2] = value.to_bytes(2, "little")
    z.write_bytes(bytes(data))
    with pytest.raises(SubmissionError, match=words):
        extract_zip(z, tmp_path / "d")


def test_graded_notebook_items_get_columns(tmp_path):
    from course.gradebook import summarize, write_outputs
    item = {"id": "FullyConnectedNets:fcnet_val", "title": "val", "notebook": "F", "ok": True, "message": "0.56",
            "value": 0.56, "points": 5.0, "graded": True, "earned": 5.0}
    flag = {**item, "id": "Dropout:ran", "ok": False, "points": 0, "graded": False, "earned": 0}
    check = {"id": "Q1.a", "title": "a", "part": "Q1", "points": 2, "earned": 2, "status": "pass", "message": ""}
    rows = [summarize({"student": s, "status": "graded", "problems": [], "notes": [], "checks": [check],
                       "notebook_items": [item, flag]}) for s in ("a", "b")]
    write_outputs(tmp_path, rows)
    with open(tmp_path / "gradebook.csv", newline="") as f:
        got = list(csv.DictReader(f))
    assert got[0]["total"] == "7" and got[0]["possible"] == "7" and got[0]["notebooks"] == "5"
    assert got[0]["nb.FullyConnectedNets:fcnet_val"] == "5" and got[0]["flags"] == "Dropout:ran"
    assert "nb.Dropout:ran" not in got[0]
