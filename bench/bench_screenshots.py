"""Screenshots against their text, with all of office-ko's 135 queries: every answer of the
Korean FAQ drawn as a screenshot, read by semsearch's picture OCR, and searched.

office-ko holds 11 screenshots (12 queries), where one hit moving from rank 1 to rank 2
moves the ratio to `.txt` by about 0.07. Here every one of the 123 answers is drawn as a
screenshot by office-ko's own writer (`build.py`'s `write_png`: windows, themes, 14-17 px
text), read by `indexer.picture_text.read_picture` (the product's reading: the gate's
decision aside, the same Tesseract runs), once per page segmentation mode asked for, and
the text of each indexed as a document (`semsearch index`, default models) and asked the
set's queries (`semsearch eval`, hybrid), beside the same answers as `.txt`.

    python -m bench.bench_screenshots [--psm 3 6] [--workers 2]
    python -m bench.bench_screenshots --smoke   # 6 answers: a check that it runs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "evalsets" / "debian-faq-ko" / "docs"
QRELS = ROOT / "evalsets" / "debian-faq-ko" / "qrels.tsv"


def _writer():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "office_ko_build", ROOT / "evalsets/office-ko/build.py"
    )
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build


def read_shot(job: tuple[str, int, str, str]) -> tuple[str, str, float]:
    """(stem, the text OCR read, seconds) for answer `stem`, number n, drawn and read."""
    stem, n, psm, _ = job
    import indexer.picture_text as picture_text
    from indexer.ocr import OcrOptions

    os.environ["OMP_THREAD_LIMIT"] = "1"
    picture_text.SEGMENTATION = psm
    data = _writer().write_png((SOURCE / f"{stem}.txt").read_text(encoding="utf-8"), stem, n)
    t0 = time.perf_counter()
    # no time limit: the figure is what OCR reads, not whether a loaded machine reads it in 30 s
    passages = picture_text.read_picture(data, OcrOptions(timeout_s=0))
    return stem, passages[0].text if passages else "", time.perf_counter() - t0


def evaluate(folder: Path, qrels: Path, index: Path) -> dict:
    semsearch = [sys.executable, "-m", "searchengine", "--index", str(index)]
    subprocess.run(
        [*semsearch, "index", str(folder), "--no-word-vectors", "--json"],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [*semsearch, "eval", str(qrels), "--folder", str(folder), "--mode", "hybrid", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)["modes"]["hybrid"]["all"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--psm", nargs="+", default=["3", "6"])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--smoke", action="store_true", help="6 answers: a check, not a measurement")
    ap.add_argument("--keep", type=Path, help="keep the texts OCR read here (DIR/psmN/STEM.txt)")
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    from indexer.ocr import OcrOptions, unavailable

    if (reason := unavailable(OcrOptions())) is not None:
        print(f"screenshots: not measured ({reason})")
        return
    stems = sorted(p.stem for p in SOURCE.glob("*.txt"))
    if args.smoke:
        stems = stems[:6]
        args.psm = args.psm[:1]
    head, *rows = QRELS.read_text(encoding="utf-8").splitlines()
    kept = [r for r in rows if Path(r.split("\t")[1]).stem in stems]
    with tempfile.TemporaryDirectory() as tmp:
        qrels = Path(tmp) / "qrels.tsv"
        qrels.write_text("\n".join([head, *kept]) + "\n", encoding="utf-8")
        txt = Path(tmp) / "txt"
        txt.mkdir()
        for stem in stems:
            (txt / f"{stem}.txt").write_bytes((SOURCE / f"{stem}.txt").read_bytes())
        base = evaluate(txt, qrels, Path(tmp) / "index-txt")
        print(
            f"{len(stems)} answers, {base['queries']} queries; as .txt: MRR@10 {base['mrr@10']:.3f}"
        )
        for psm in args.psm:
            folder = Path(tmp) / f"psm{psm}"
            folder.mkdir()
            jobs = [(stem, n, psm, tmp) for n, stem in enumerate(stems)]
            with ProcessPoolExecutor(args.workers) as pool:
                read = list(pool.map(read_shot, jobs))
            for stem, text, _ in read:
                (folder / f"{stem}.txt").write_text(text, encoding="utf-8")
            if args.keep is not None:
                shutil.copytree(folder, args.keep / folder.name, dirs_exist_ok=True)
            seconds = sorted(s for _, _, s in read)
            got = evaluate(folder, qrels, Path(tmp) / f"index-{psm}")
            print(
                f"screenshots read with --psm {psm}: MRR@10 {got['mrr@10']:.3f}, "
                f"{got['mrr@10'] / base['mrr@10']:.3f} of .txt; recall@10 {got['recall@10']:.3f} "
                f"(.txt {base['recall@10']:.3f}); OCR median {seconds[len(seconds) // 2]:.2f} s "
                f"a screenshot"
            )


if __name__ == "__main__":
    main()
