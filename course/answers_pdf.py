"""Inline answers and plots of a submission (or of a whole class) as one PDF per student, for manual
grading (Gradescope's manually graded assignments, or on screen). Instructor-only; made at grading
time from the submitted notebooks, so students submit nothing more than the collector's zip.

Usage::

    python -m course.answers_pdf SUBMISSION OUT_DIR            # one zip or folder -> OUT_DIR/<name>.pdf
    python -m course.answers_pdf --class SUBMISSIONS_DIR OUT_DIR   # every <id>.zip / <id>/ -> OUT_DIR/<id>.pdf
        [--release DIR] [--no-plots] [--id-regex REGEX] [--overwrite]

For each notebook of the release, in order: every inline question (a markdown cell of the release
with the placeholder ``*Your answer:* _fill this in_``) with the student's answer (the text that
replaced the placeholder, or a new markdown cell right after the question when the placeholder was
left; "(no answer)" otherwise), then every plot (``image/png`` outputs) with its cell number.
Rendered with matplotlib's PDF backend (no LaTeX, nothing to install beyond the course's own
requirements); student text is drawn as plain text (no math parsing), images are size-checked
before they are decoded. A submission that cannot be read gets a one-page PDF saying why.
"""

import argparse
import base64
import io
import re
import sys
import tempfile
import textwrap
import warnings
from datetime import datetime, timezone
from pathlib import Path

from . import notebook_report
from .notebook_report import ANSWER_PLACEHOLDER, _source, markdown_hash

PAGE = (8.27, 11.69)  # A4, inches
MARGIN, LINE, WRAP = 0.07, 0.0155, 100  # figure fractions; characters per line
MAX_PIXELS = 16_000_000
MAX_PLOTS = 80
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# ---------------------------------------------------------------------------------------------
# What goes into the PDF
# ---------------------------------------------------------------------------------------------

def _clean(text):
    return _COMMENT.sub("", text).strip()


def find_answers(nb, ref):
    """``[(question, answer or None)]`` for the inline questions of ``ref`` in notebook ``nb``.

    A release cell holds one or more placeholders; its text splits into segments around them
    (``segments[k]`` is the question before placeholder k+1). In the submitted cell, answer k is
    the text between segment k and segment k+1 (or the end). A placeholder left in place with a
    new markdown cell right after the question cell: that cell is the (last) answer.
    """
    cells = nb["cells"]
    md = [(i, _source(c)) for i, c in enumerate(cells) if c.get("cell_type") == "markdown"]
    release_md = set(ref.get("markdown", []))
    out = []
    for q in ref["answers"]:
        segs = q["segments"]
        questions = [_clean(seg) for seg in segs[:-1]]
        first = segs[0].strip()
        heading = next((l.strip() for l in segs[0].splitlines() if l.strip()), "")
        hit = next(((i, t) for i, t in md if first and t.strip().startswith(first)), None) or \
            next(((i, t) for i, t in md if heading and heading in t), None)
        if hit is None:
            out += [(question, None) for question in questions]
            continue
        index, text = hit
        anchor = first if first in text else heading
        pos = text.index(anchor) + len(anchor) if anchor else 0
        answers = []
        for k in range(1, len(segs)):
            nxt = segs[k].strip()
            end = text.find(nxt, pos) if nxt else -1
            answers.append(_clean(text[pos:end] if end >= 0 else text[pos:]))
            pos = end + len(nxt) if end >= 0 else len(text)
        answers = [a if a and a != ANSWER_PLACEHOLDER else None for a in answers]
        if answers[-1] is None and index + 1 < len(cells) and cells[index + 1].get("cell_type") == "markdown":
            follow = _source(cells[index + 1])
            if follow.strip() and markdown_hash(follow) not in release_md:
                answers[-1] = _clean(follow)
        out += list(zip(questions, answers))
    return out


def find_plots(nb):
    """``[(cell number, png bytes)]`` of the notebook's image/png outputs."""
    plots = []
    for i, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []) or []:
            data = output.get("data") if isinstance(output, dict) else None
            if isinstance(data, dict) and "image/png" in data:
                png = data["image/png"]
                png = "".join(png) if isinstance(png, list) else str(png)
                try:
                    plots.append((i + 1, base64.b64decode(png, validate=False)))
                except ValueError:
                    plots.append((i + 1, b""))
    return plots


def collect(root, reference, plots=True):
    """``[(notebook, [(question, answer)], [(cell, png)], problem or None)]``."""
    sections = []
    for name, ref in reference["notebooks"].items():
        path = notebook_report.find_notebook(root, name) if root is not None else None
        if path is None:
            sections.append((name, [], [], "not in the submission"))
            continue
        try:
            nb = notebook_report.load_notebook(path)
        except (ValueError, OSError) as exc:
            sections.append((name, [], [], str(exc)))
            continue
        sections.append((name, find_answers(nb, ref), find_plots(nb) if plots else [], None))
    return sections


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

_BLOCK = re.compile(r"^\s*([-*+]\s|\d+[.)]\s|#|\||>|```)|^\s{4}")


def reflow(text):
    """Markdown source lines -> paragraphs: lines of one paragraph joined; list items, headings,
    tables, quotes and indented code keep their own lines."""
    out = []
    for line in text.splitlines():
        if out and line.strip() and out[-1].strip() and not _BLOCK.match(line) and not out[-1].startswith("    "):
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line.rstrip())
    return out


class _Writer:
    """Lines of text and images onto A4 pages of a PdfPages file."""

    def __init__(self, pdf, title):
        import matplotlib.pyplot as plt
        self.plt, self.pdf, self.title, self.fig, self.y, self.pages = plt, pdf, title, None, 0, 0

    def _new_page(self):
        self.flush()
        self.fig = self.plt.figure(figsize=PAGE)
        self.pages += 1
        self.fig.text(MARGIN, 0.975, f"{self.title}   (page {self.pages})", fontsize=7, color="0.4",
                      parse_math=False)
        self.y = 0.95

    def flush(self):
        if self.fig is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # glyphs missing from the font
                self.pdf.savefig(self.fig)
            self.plt.close(self.fig)
            self.fig = None

    def text(self, text, size=9.5, weight="normal", family="sans-serif", color="black", gap=0.0):
        if self.fig is None:
            self._new_page()
        self.y -= gap
        width = int(WRAP * 9.5 / size)
        text = _CONTROL.sub("", str(text).replace("\t", "    "))
        for para in reflow(text) or [""]:
            indent = para[: len(para) - len(para.lstrip())]
            for line in textwrap.wrap(para, width, subsequent_indent=indent, drop_whitespace=True) or [""]:
                if self.y < MARGIN:
                    self._new_page()
                self.fig.text(MARGIN, self.y, line, fontsize=size, weight=weight, family=family, color=color,
                              va="top", parse_math=False)
                self.y -= LINE * size / 9.5

    def image(self, png, caption):
        from PIL import Image
        try:
            with Image.open(io.BytesIO(png)) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError(f"{im.width}x{im.height} pixels, too large")
                im = im.convert("RGBA")
                import numpy as np
                pixels = np.asarray(im)
        except Exception as exc:  # noqa: BLE001 - any broken image becomes a note
            self.text(f"[{caption}: the image could not be read ({type(exc).__name__})]", color="0.4")
            return
        aspect = pixels.shape[0] / max(pixels.shape[1], 1)
        width = 1 - 2 * MARGIN
        height = min(width * aspect * PAGE[0] / PAGE[1], 0.8)
        if self.fig is None or self.y - height - 0.03 < MARGIN:
            self._new_page()
        self.text(caption, size=8, color="0.3")
        ax = self.fig.add_axes([MARGIN, self.y - height, width, height])
        ax.imshow(pixels)
        ax.set_axis_off()
        self.y -= height + 0.02


def write_pdf(path, student, sections, note=None):
    """Render one student's sections into ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with PdfPages(path, metadata={"Title": f"Assignment 2 answers: {student}", "Creator": "course.answers_pdf"}) as pdf:
        w = _Writer(pdf, f"{student}: inline answers and plots")
        w.text(f"Assignment 2: inline answers and plots of {student}", size=15, weight="bold")
        w.text(f"made {stamp} by python -m course.answers_pdf from the submitted notebooks", size=8, color="0.4")
        if note:
            w.text(note, color="darkred", gap=0.01)
        n_plots = 0
        for name, answers, plots, problem in sections:
            w.text(name, size=13, weight="bold", gap=0.02)
            if problem:
                w.text(f"Notebook not read: {problem}", color="darkred")
                continue
            for k, (question, answer) in enumerate(answers, start=1):
                w.text(f"Question {k}", size=10.5, weight="bold", gap=0.01)
                w.text(question, size=8.5, color="0.25")
                w.text("Answer:", size=9.5, weight="bold", gap=0.005)
                w.text(answer if answer else "(no answer)", color="black" if answer else "darkred")
            for cell, png in plots:
                if n_plots >= MAX_PLOTS:
                    w.text(f"[more plots left out: at most {MAX_PLOTS} per student]", color="0.4")
                    break
                n_plots += 1
                w.image(png, f"{name}, cell {cell}")
        w.flush()
    return path


def pdf_for_submission(submission, out_pdf, reference, plots=True):
    """Materialize ``submission`` safely and write its PDF; returns a problem string or None."""
    from .submissions import SubmissionError, materialize
    student = Path(out_pdf).stem
    with tempfile.TemporaryDirectory(prefix="cs231n-answers-") as tmp:
        try:
            sub = materialize(submission, tmp)
        except (SubmissionError, OSError) as exc:
            write_pdf(out_pdf, student, [], note=f"The submission could not be read: {exc}")
            return str(exc)
        write_pdf(out_pdf, student, collect(sub.root or sub.copy, reference, plots))
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course.answers_pdf", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="a submission (zip or folder), or with --class a folder of submissions")
    parser.add_argument("out", help="folder for the PDFs (created)")
    parser.add_argument("--class", dest="whole_class", action="store_true", help="PATH holds one submission per student")
    parser.add_argument("--release", help="release folder for the questions (default: built from this repository)")
    parser.add_argument("--no-plots", action="store_true", help="answers only")
    parser.add_argument("--id-regex", help="with --class: regular expression whose group 1 is the student id")
    parser.add_argument("--overwrite", action="store_true", help="replace existing PDFs")
    args = parser.parse_args(argv)
    from .batch import discover
    path, out = Path(args.path), Path(args.out)
    try:
        reference = notebook_report.build_reference(args.release)
        if args.whole_class:
            if not path.is_dir():
                raise ValueError(f"{path} is not a folder")
            entries = [(sid, p) for sid, p, _ in discover(path, args.id_regex)]
        else:
            if not path.exists():
                raise ValueError(f"{path} does not exist")
            entries = [(re.sub(r"[^A-Za-z0-9._@+-]", "_", path.name.removesuffix(".zip")), path)]
    except (ValueError, OSError, re.error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    clashes = [sid for sid, _ in entries if (out / f"{sid}.pdf").exists()]
    if clashes and not args.overwrite:
        print(f"error: {len(clashes)} PDFs exist already in {out} ({clashes[0]}.pdf, ...); pass --overwrite",
              file=sys.stderr)
        return 2
    for sid, sub in entries:
        problem = pdf_for_submission(sub, out / f"{sid}.pdf", reference, not args.no_plots)
        print(f"{out / (sid + '.pdf')}" + (f"  (could not read the submission: {problem})" if problem else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
