"""Tests of course/notebook_report.py (reading submitted notebooks) and course/answers_pdf.py
(inline answers and plots as a PDF), on small hand-made notebooks and on the real release."""

import base64
import copy
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course import answers_pdf, fakeclass, notebook_report
from course.notebook_report import ANSWER_PLACEHOLDER, build_reference, reference_from_notebooks, report
from course.regions import STUDENT_BEGIN, STUDENT_END

REPO = Path(__file__).resolve().parents[2]
NB = "FullyConnectedNets.ipynb"


def code(src, outputs=(), count=None):
    return {"cell_type": "code", "source": src, "outputs": list(outputs), "execution_count": count, "metadata": {}}


def md(src):
    return {"cell_type": "markdown", "source": src, "metadata": {}}


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def png_output():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [1, 0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return {"output_type": "display_data", "data": {"image/png": base64.b64encode(buf.getvalue()).decode()},
            "metadata": {}}


RELEASE = {"cells": [
    code("# Setup\nprint(mode)\n"),
    code("assert f(1) == 2\nprint('ok')\n"),
    code(f"def g(x):\n    {STUDENT_BEGIN}\n    raise NotImplementedError('TODO')\n    {STUDENT_END}\n"),
    md(f"### Inline question 1\n\nWhy?\n\n{ANSWER_PLACEHOLDER}\n"),
    code("print(f'RESULT: TwoLayerNet validation accuracy = {acc:.3f}')\n"),
]}


def submitted(**change):
    nb = copy.deepcopy(RELEASE)
    c = nb["cells"]
    c[0].update(outputs=[stream("Real mode: CIFAR-10 at full size.\n")], execution_count=1)
    c[1].update(outputs=[stream("ok\n")], execution_count=2)
    c[2].update(source=f"def g(x):\n    {STUDENT_BEGIN}\n    return 2 * x\n    {STUDENT_END}\n", execution_count=3)
    c[3]["source"] = "### Inline question 1\n\nWhy?\n\nBecause of *reasons*.\n"
    c[4].update(outputs=[stream("RESULT: TwoLayerNet validation accuracy = 0.512\n"), png_output()], execution_count=4)
    for key, value in change.items():
        value(c)
    return nb


@pytest.fixture
def reference():
    return reference_from_notebooks({NB: RELEASE})


def _items(tmp_path, nb, reference, config=None, raw=None):
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    path = tmp_path / "notebooks" / NB
    path.write_text(raw if raw is not None else json.dumps(nb))
    return {i.id: i for i in report(tmp_path, reference, config)}


def test_a_good_notebook(tmp_path, reference):
    items = _items(tmp_path, submitted(), reference)
    for suffix in ("present", "ran", "no_errors", "given_cells", "real_data", "twolayer_val"):
        assert items[f"FullyConnectedNets:{suffix}"].ok, items[f"FullyConnectedNets:{suffix}"]
    assert items["FullyConnectedNets:twolayer_val"].value == pytest.approx(0.512)
    assert not items["FullyConnectedNets:fcnet_val"].ok  # that RESULT line is not printed here
    assert all(not i.graded and i.earned == 0 for i in items.values())  # flagged only, by default


@pytest.mark.parametrize("change, item, words", [
    (lambda c: c[1].update(execution_count=None), "ran", "never run"),
    (lambda c: (c[1].update(execution_count=5), c[2].update(execution_count=4)), "ran", "out of order"),
    (lambda c: c[1].update(outputs=[{"output_type": "error", "ename": "AssertionError", "evalue": "f(1) is 3",
                                     "traceback": []}]), "no_errors", "AssertionError: f(1) is 3"),
    (lambda c: c[1].update(source="assert True\nprint('ok')\n"), "given_cells", "cell 2 of the release"),
    (lambda c: c[2].update(source="def g(x):\n    return 2 * x\n"), "given_cells", "cell 3 of the release"),
    (lambda c: c[0].update(outputs=[stream("Smoke mode: synthetic data\n")]), "real_data", "smoke"),
    (lambda c: c[4].update(outputs=[stream("RESULT: TwoLayerNet validation accuracy = 0.41\n")]),
     "twolayer_val", "reported 0.410 (floor 0.50)"),
    (lambda c: c[4].update(outputs=[]), "twolayer_val", "no such RESULT"),
])
def test_problems_are_found(tmp_path, reference, change, item, words):
    items = _items(tmp_path, submitted(x=change), reference)
    bad = [i.id.split(":")[1] for i in items.values() if not i.ok and i.id != "FullyConnectedNets:fcnet_val"
           and i.id != "FullyConnectedNets:fcnet_test"]
    assert bad == [item]
    assert words in items[f"FullyConnectedNets:{item}"].message


def test_edited_student_region_is_not_an_edited_given_cell(tmp_path, reference):
    nb = submitted(x=lambda c: c[2].update(source=f"def g(x):\n    {STUDENT_BEGIN}\n    y = x + x\n    return y\n"
                                                 f"    {STUDENT_END}\n"))
    assert _items(tmp_path, nb, reference)["FullyConnectedNets:given_cells"].ok


def test_broken_and_missing_notebooks(tmp_path, reference):
    items = _items(tmp_path, None, reference, raw="{not json")
    assert not items["FullyConnectedNets:present"].ok and "not a valid notebook" in items["FullyConnectedNets:present"].message
    items = {i.id: i for i in report(tmp_path / "nowhere", reference)}
    assert "not in the submission" in items["FullyConnectedNets:present"].message
    assert not items["FullyConnectedNets:ran"].ok


def test_config_points_flags_ignore_floor(tmp_path, reference):
    config = {"items": {"*:ran": {"points": 2}, "*:twolayer_val": {"points": 5, "floor": 0.52},
                        "*:real_data": {"ignore": True}}}
    items = _items(tmp_path, submitted(), reference, config)
    assert items["FullyConnectedNets:ran"].graded and items["FullyConnectedNets:ran"].earned == 2
    val = items["FullyConnectedNets:twolayer_val"]
    assert val.graded and not val.ok and val.earned == 0 and "floor 0.52" in val.message
    assert "FullyConnectedNets:real_data" not in items


def test_load_config_rejects_typos(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"items": {"*:ran": {"pionts": 2}}}))
    with pytest.raises(ValueError, match="bad rule"):
        notebook_report.load_config(path)


def test_real_release_notebooks(tmp_path):
    """The release's notebooks with the textbook cells, run in order, pass the structural items."""
    reference = build_reference()
    assert {"FullyConnectedNets.ipynb", "ConvolutionalNetworks.ipynb"} <= set(reference["notebooks"])
    fakeclass.write_folder(tmp_path, fakeclass.submission_files())
    items = report(tmp_path, reference)
    structural = [i for i in items if i.id.split(":")[1] in ("present", "ran", "no_errors", "given_cells")]
    assert structural and all(i.ok for i in structural), [(i.id, i.message) for i in structural if not i.ok]


# ---------------------------------------------------------------------------------------------
# Inline answers PDF
# ---------------------------------------------------------------------------------------------

def test_find_answers(reference):
    ref = reference["notebooks"][NB]
    assert answers_pdf.find_answers(submitted(), ref) == [("### Inline question 1\n\nWhy?", "Because of *reasons*.")]
    # placeholder left, the answer in a new markdown cell right after the question
    nb = submitted(x=lambda c: (c[3].update(source=RELEASE["cells"][3]["source"]),
                                c.insert(4, md("In a cell of my own."))))
    assert answers_pdf.find_answers(nb, ref)[0][1] == "In a cell of my own."
    nb = submitted(x=lambda c: c[3].update(source=RELEASE["cells"][3]["source"]))
    assert answers_pdf.find_answers(nb, ref)[0][1] is None
    nb = submitted(x=lambda c: c.pop(3))
    assert answers_pdf.find_answers(nb, ref)[0][1] is None


def test_pdf_survives_hostile_text_and_images(tmp_path, reference):
    hostile = "$\\frac{1}{$ <script>alert(1)</script> " + "x" * 500 + "\n" * 50 + "🙂 \x00 end"
    nb = submitted(x=lambda c: (c[3].update(source=f"### Inline question 1\n\nWhy?\n\n{hostile}\n"),
                                c[4]["outputs"].append({"output_type": "display_data",
                                                        "data": {"image/png": "bm90IGEgcG5n"}})))
    sections = [(NB, answers_pdf.find_answers(nb, reference["notebooks"][NB]), answers_pdf.find_plots(nb), None),
                ("Dropout.ipynb", [], [], "not in the submission")]
    assert len(sections[0][2]) == 2
    out = answers_pdf.write_pdf(tmp_path / "s.pdf", "student<1>", sections)
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page ") >= 2


def test_answers_pdf_command_for_a_class(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "pdfs"
    subs.mkdir()
    fakeclass.write_zip(subs / "alice.zip", fakeclass.submission_files())
    (subs / "bob.zip").write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "course.answers_pdf", "--class", str(subs), str(out), "--no-plots"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["alice.pdf", "bob.pdf"]
    assert "could not read the submission" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "course.answers_pdf", "--class", str(subs), str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr


def test_two_questions_in_one_cell():
    cell = f"### Q1\n\nOne?\n\n{ANSWER_PLACEHOLDER}\n\n### Q2\n\nTwo?\n\n{ANSWER_PLACEHOLDER}\n"
    ref = reference_from_notebooks({NB: {"cells": [md(cell)]}})["notebooks"][NB]
    answered = cell.replace(ANSWER_PLACEHOLDER, "first", 1).replace(ANSWER_PLACEHOLDER, "second", 1)
    assert answers_pdf.find_answers({"cells": [md(answered)]}, ref) == [("### Q1\n\nOne?", "first"),
                                                                        ("### Q2\n\nTwo?", "second")]
    half = cell.replace(ANSWER_PLACEHOLDER, "first", 1)
    assert answers_pdf.find_answers({"cells": [md(half)]}, ref) == [("### Q1\n\nOne?", "first"), ("### Q2\n\nTwo?", None)]


def test_real_release_answers_in_order():
    reference = build_reference()
    files = fakeclass.student_files()
    for name, ref in reference["notebooks"].items():
        nb = json.loads(files[f"notebooks/{name}"])
        assert all(a is None for _, a in answers_pdf.find_answers(nb, ref))
        k = 0
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            while cell["cell_type"] == "markdown" and ANSWER_PLACEHOLDER in src:
                src = src.replace(ANSWER_PLACEHOLDER, f"answer {k}", 1)
                k += 1
            cell["source"] = src
        assert [a for _, a in answers_pdf.find_answers(nb, ref)] == [f"answer {i}" for i in range(k)]
