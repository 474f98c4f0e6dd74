"""Print a Markdown table of the runs under training/runs/ (their metrics.json 'final').

python training/ablation_table.py training/runs/abl_*     # runs in the order given
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    print(
        "| run | split | ko R@10 | ko emoji | ko clip art | en R@10 | en emoji | en clip art "
        "| photos ko R@5 | photos en R@5 "
        "| text-centred: ko R@10 | en R@10 | photos ko R@5 | photos en R@5 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for d in map(Path, argv):
        f = d / "metrics.json"
        if not f.is_file():
            continue
        m = json.loads(f.read_text())
        r = m["final"]
        key = "centred" if m["args"].get("center") != "none" else "raw"
        split = "val" if m["args"].get("val") == "True" else "held-out"

        def g(k: str, at: str = "R@10", r: dict = r, key: str = key) -> str:
            return f"{r[f'{key}/{k}'][at]:.3f}"

        def tc(k: str, at: str = "R@10", r: dict = r) -> str:
            return f"{r[f'tc/{k}'][at]:.3f}" if f"tc/{k}" in r else "-"

        print(
            f"| {d.name} | {split} | {g('ko/all')} | {g('ko/emoji')} | {g('ko/openclipart')} "
            f"| {g('en/all')} | {g('en/emoji')} | {g('en/openclipart')} "
            f"| {g('ko/photo', 'R@5')} | {g('en/photo', 'R@5')} | {tc('ko/all')} | {tc('en/all')} "
            f"| {tc('ko/photo', 'R@5')} | {tc('en/photo', 'R@5')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
