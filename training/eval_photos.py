"""Photo and drawing recall of lite0 head files, alone and paired as the product pairs them
(``semsearch-clip-duo``: the normalised 0.7 x lite0 + 0.3 x first-tower vector), from
features computed once (issue 26). A head-only weights file changes only
``visual.head.*``, so the frozen trunk's pooled features and the first tower's vectors
of every evaluation picture are cached, and each weights file is then scored in seconds
(eval_lite0.py decodes and runs the trunk again for every file: ~2 min).

Pictures, decoded as eval_lite0.py / the indexer do (transparency on white, <= 1024 px,
the config's preprocessing):

* the 1,582 held-out drawings of training/data/manifest.jsonl (queries as
  bench_clip_recall.py: the concept's English name, its Korean name);
* evalsets/photos (29 full-frame photos; query: its Korean or English caption; relevant:
  that photo), in a gallery of themselves + the held-out drawings, and alone;
* the held-out photo split of the captioned training photos (cache_photos.py
  ``captioned_sources``: Tux Paint photographic stamps whose concept falls in the held-out
  quarter, never trained on): among themselves (query: each distinct Korean caption, or
  English short caption; relevant: every held-out photo with that caption) and among the
  held-out drawings.

    python training/eval_photos.py                    # the shipped file
    python training/eval_photos.py --weights A.safetensors B.safetensors --json out.json

The feature cache is training/data/eval_photos_feats.pt (rebuilt when missing, ~2-5 min).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "training" / "data"
FEATS = DATA / "eval_photos_feats.pt"
SCENES = DATA / "heldout_stamp_scenes"
SHIPPED = ROOT / "searchengine" / "weights" / "semsearch-clip-lite0-visual.safetensors"
CLIPART_ROOT = Path("/usr/share/openclipart/png")
PAIR_W = 0.7  # the lite0 tower's weight in semsearch-clip-duo (searchengine/models/presets.py)


def _pictures():
    import cache_photos
    from eval_lite0 import PHOTOS, load_picture

    rows = [json.loads(line) for line in (DATA / "manifest.jsonl").open(encoding="utf-8")]
    held = [r for r in rows if r["split"] == "heldout"]
    with (PHOTOS / "captions.tsv").open(encoding="utf-8") as f:
        photos = list(csv.DictReader(f, delimiter="\t"))
    hp = [s for s in cache_photos.captioned_sources() if s["split"] == "heldout"]
    paths = [
        CLIPART_ROOT / r["origin"] if r["source"] == "openclipart" else DATA / r["img"]
        for r in held
    ]
    paths += [PHOTOS / p["file"] for p in photos]
    paths += [cache_photos.resolve(s["file"]) for s in hp]
    # the same held-out photos pasted on photo backgrounds (cache_stamp_scenes.py)
    if not SCENES.is_dir():
        import cache_stamp_scenes

        cache_stamp_scenes.main(["--write-heldout", str(SCENES)])
    sources = cache_photos.captioned_sources()
    paths += [SCENES / f"{sources.index(s):03d}.png" for s in hp if s["kind"] == "stamp"]
    return held, photos, hp, paths, load_picture


@torch.no_grad()
def build_features(threads: int) -> dict:
    import lite0
    from eval_lite0 import load_tower
    from train_lite0 import text_queries

    torch.set_num_threads(threads)
    held, photos, hp, paths, load_picture = _pictures()
    t0 = time.time()
    lite, lite_pp, _ = load_tower("lite0", None)
    old, old_pp, _ = load_tower("old", None)
    pooled, old_v = [], []
    for i in range(0, len(paths), 32):
        ims = [load_picture(p) for p in paths[i : i + 32]]
        pooled.append(lite.trunk(torch.stack([lite_pp(im) for im in ims])).float())
        old_v.append(F.normalize(old(torch.stack([old_pp(im) for im in ims])).float(), dim=-1))
        if i % 320 == 0:
            print(f"  {i}/{len(paths)} pictures, {time.time() - t0:.0f}s", flush=True)
    queries: dict[str, dict] = {}
    for lang in ("ko", "en"):
        q = text_queries(held, lang)
        queries[f"{lang}/drawings"] = {"texts": sorted(q), "rel": [sorted(q[t]) for t in sorted(q)]}
        queries[f"{lang}/photos"] = {
            "texts": [p[lang] for p in photos],
            "rel": [[i] for i in range(len(photos))],
        }
        by: dict[str, set[int]] = {}
        for i, s in enumerate(hp):
            caps = [c["text"] for c in s["captions"] if c["lang"] == lang]
            if caps:  # Korean: its one caption; English: the short one (no article)
                by.setdefault(caps[-1], set()).add(i)
        queries[f"{lang}/heldout_photos"] = {
            "texts": sorted(by),
            "rel": [sorted(by[t]) for t in sorted(by)],
        }
        # the held-out stamps pasted on photo backgrounds: the stamps' own queries
        stamps = [i for i, s in enumerate(hp) if s["kind"] == "stamp"]
        by_s: dict[str, set[int]] = {}
        for j, i in enumerate(stamps):
            caps = [c["text"] for c in hp[i]["captions"] if c["lang"] == lang]
            if caps:
                by_s.setdefault(caps[-1], set()).add(j)
        queries[f"{lang}/heldout_scenes"] = {
            "texts": sorted(by_s),
            "rel": [sorted(by_s[t]) for t in sorted(by_s)],
        }
    for v in queries.values():
        v["vecs"] = torch.from_numpy(lite0.e5_query(v["texts"]))
    trunk = {k: v.clone() for k, v in lite.trunk.state_dict().items()}
    return {
        "n": {"drawings": len(held), "photos": len(photos), "heldout_photos": len(hp)},
        "pooled": torch.cat(pooled),
        "old": torch.cat(old_v),
        "queries": queries,
        "heldout_photo_files": [s["file"] for s in hp],
        "trunk_sum": float(sum(v.float().abs().sum() for v in trunk.values())),
        "seconds": round(time.time() - t0),
    }


def recall(sims: torch.Tensor, rel: list[list[int]], ks=(1, 5, 10)) -> dict[str, float]:
    top = sims.topk(max(ks), dim=1).indices.tolist()
    return {
        f"R@{k}": float(np.mean([bool(set(r[:k]) & set(g)) for r, g in zip(top, rel, strict=True)]))
        for k in ks
    }


def head_vectors(path: Path, pooled: torch.Tensor) -> torch.Tensor:
    from safetensors.torch import load_file

    sd = load_file(str(path))
    w, b = sd["visual.head.proj.weight"].float(), sd["visual.head.proj.bias"].float()
    return F.normalize(pooled @ w.t() + b, dim=-1)


def score(feats: dict, vecs: torch.Tensor) -> dict[str, dict]:
    n = feats["n"]
    nd, nph = n["drawings"], n["photos"]
    nh = n["heldout_photos"]
    dr, ph = vecs[:nd], vecs[nd : nd + nph]
    hp, hs = vecs[nd + nph : nd + nph + nh], vecs[nd + nph + nh :]
    q = feats["queries"]
    res: dict[str, dict] = {}
    for lang in ("ko", "en"):
        d = q[f"{lang}/drawings"]
        res[f"{lang}/drawings"] = {**recall(d["vecs"] @ dr.t(), d["rel"]), "n": len(d["rel"])}
        p = q[f"{lang}/photos"]
        res[f"{lang}/photos+drawings"] = {
            **recall(p["vecs"] @ torch.cat([ph, dr]).t(), p["rel"]),
            "n": len(p["rel"]),
        }
        res[f"{lang}/photos_only"] = {**recall(p["vecs"] @ ph.t(), p["rel"]), "n": len(p["rel"])}
        h = q[f"{lang}/heldout_photos"]
        res[f"{lang}/heldout_photos_only"] = {
            **recall(h["vecs"] @ hp.t(), h["rel"]),
            "n": len(h["rel"]),
        }
        res[f"{lang}/heldout_photos+drawings"] = {
            **recall(h["vecs"] @ torch.cat([hp, dr]).t(), h["rel"]),
            "n": len(h["rel"]),
        }
        h = q[f"{lang}/heldout_scenes"]
        res[f"{lang}/heldout_scenes_only"] = {
            **recall(h["vecs"] @ hs.t(), h["rel"]),
            "n": len(h["rel"]),
        }
        res[f"{lang}/heldout_scenes+drawings"] = {
            **recall(h["vecs"] @ torch.cat([hs, dr]).t(), h["rel"]),
            "n": len(h["rel"]),
        }
    return res


ROWS = [
    ("drawings", "R@10", "held-out drawings R@10"),
    ("photos+drawings", "R@5", "evalsets/photos among drawings R@5"),
    ("photos+drawings", "R@10", "  R@10"),
    ("photos_only", "R@10", "evalsets/photos among photos R@10"),
    ("heldout_photos_only", "R@10", "held-out photo split among itself R@10"),
    ("heldout_photos+drawings", "R@5", "held-out photo split among drawings R@5"),
    ("heldout_scenes_only", "R@10", "held-out split in scenes, among themselves R@10"),
    ("heldout_scenes+drawings", "R@5", "held-out split in scenes, among drawings R@5"),
]


def table(results: dict[str, dict[str, dict]]) -> str:
    names = list(results)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for lang, lname in (("ko", "Korean"), ("en", "English")):
        for key, k, label in ROWS:
            cells = [f"{results[m][f'{lang}/{key}'][k]:.3f}" for m in names]
            n = results[names[0]][f"{lang}/{key}"]["n"]
            lines.append(f"| {lname}: {label} (n={n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--weights", type=Path, nargs="*", default=[SHIPPED])
    ap.add_argument("--names", nargs="*", default=None, help="a column name per weights file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lite0-alone", action="store_true", help="also score each file unpaired")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not FEATS.is_file():
        print("building the feature cache", flush=True)
        torch.save(build_features(args.threads), FEATS)
    feats = torch.load(FEATS)
    names = args.names or [p.parent.name if p != SHIPPED else "shipped" for p in args.weights]
    results: dict[str, dict] = {}
    for name, path in zip(names, args.weights, strict=True):
        lite = head_vectors(path, feats["pooled"])
        duo = F.normalize(PAIR_W * lite + (1 - PAIR_W) * feats["old"], dim=-1)
        results[f"{name} (duo)"] = score(feats, duo)
        if args.lite0_alone:
            results[f"{name} (lite0)"] = score(feats, lite)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
