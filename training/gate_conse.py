"""Confidence-gated ConSE mixing for semsearch-clip-lite0, computed per image at index time.

    v = normalize((1 - w) * head_vec + w * conse_vec)
    conse_vec = normalize(sum_{i in top-k} p_i * E[i]),  E = class-name vectors
    w = w_max * clip((max_p - a) / (b - a), 0, 1)        (max_p: top ImageNet probability)

E[i] (training/runs/class_name_vecs.npy, 1000x384 float32): for class i of
searchengine/data/imagenet_classes.tsv, e5-small "query: " vectors of the Korean and the
English name (training/data/class_vecs_*.npy, from train_lite0.class_vectors), summed and
L2-normalised: E[i] = normalize(e5q(ko_i) + e5q(en_i)). With --centre cls (variant "c"),
E[i] = normalize(E[i] - mean_j E[j]) (the mean is stored in class_name_vecs_mean.npy, the
centred, renormalised vectors in class_name_vecs_centred.npy). "tr": the ConSE vector minus
its mean over the training drawings (top-10: training/runs/conse_train_mean_k10.npy).

Two evaluations, both with the photo set evalsets/photos (29 photos) in the gallery:

* val: the head of training/runs/abl_07_linear_centred_ko3 (shipped recipe trained without
  the val concepts), val drawings = plain cached 224 px views of the 784 val pictures.
  Configs are chosen here. (The 29 photos are the same in both: photo numbers are never
  held out.)
* test: the shipped tower, held-out drawings decoded as the product does
  (eval_lite0.py's protocol, 1,582 pictures).

Metrics: drawings text->image R@10 (gallery: drawings only, as eval_lite0; and "+ph":
drawings + photos, so photos that intrude into drawing queries cost recall), photo R@5
(gallery: photos + drawings; relevant: that photo).

    .venv/bin/python training/gate_conse.py     # -> training/runs/gate_conse.txt
"""

from __future__ import annotations

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
RUNS = ROOT / "training" / "runs"
FEATS = RUNS / "gate_conse_feats.pt"
VAL_HEAD = RUNS / "abl_07_linear_centred_ko3" / "visual.safetensors"
SHIPPED = ROOT / "searchengine" / "weights" / "semsearch-clip-lite0-visual.safetensors"


def head_of(path: Path):
    from safetensors.torch import load_file

    sd = load_file(str(path))
    return sd["visual.head.proj.weight"].float(), sd["visual.head.proj.bias"].float()


def extract() -> dict:
    """Pooled trunk features + logits: held-out drawings and photos (product decoding),
    val drawings (cache), queries. Cached in FEATS."""
    if FEATS.is_file():
        return torch.load(FEATS)
    import eval_lite0 as ev
    import lite0
    from safetensors.torch import load_file
    from train_clip import load_manifest
    from train_lite0 import is_val, text_queries

    torch.set_num_threads(2)
    visual, preprocess, _ = ev.load_tower("lite0", None)
    sd = load_file(str(SHIPPED))
    cw, cb = sd["imagenet_classifier.weight"].float(), sd["imagenet_classifier.bias"].float()
    rows = [json.loads(line) for line in (DATA / "manifest.jsonl").open(encoding="utf-8")]
    held = [r for r in rows if r["split"] == "heldout"]
    pics = [
        ev.load_picture(
            ev.CLIPART_ROOT / r["origin"] if r["source"] == "openclipart" else DATA / r["img"]
        )
        for r in held
    ]
    with (ev.PHOTOS / "captions.tsv").open(encoding="utf-8") as f:
        photos = list(csv.DictReader(f, delimiter="\t"))
    pics += [ev.load_picture(ev.PHOTOS / p["file"]) for p in photos]
    x = torch.stack([preprocess(im) for im in pics])
    pooled = []
    with torch.no_grad():
        for i in range(0, len(x), 64):
            pooled.append(visual.trunk(x[i : i + 64]).float())
    pooled = torch.cat(pooled)
    logits = pooled @ cw.t() + cb
    nh = len(held)
    out = {
        "held_pooled": pooled[:nh],
        "held_logits": logits[:nh],
        "photo_pooled": pooled[nh:],
        "photo_logits": logits[nh:],
    }
    # queries (held-out, eval_lite0's) and photos
    qs = {}
    for lang in ("ko", "en"):
        q = text_queries(held, lang)
        ts = sorted(q)
        qs[f"held/{lang}"] = (torch.from_numpy(lite0.e5_query(ts)), [sorted(q[t]) for t in ts])
        qs[f"photo/{lang}"] = torch.from_numpy(lite0.e5_query([p[lang] for p in photos]))
    # val drawings: plain cached views of the val concepts
    mrows = load_manifest(DATA)
    index = np.load(DATA / "lite0_cache" / "index.npy")
    cp = np.load(DATA / "lite0_cache" / "pooled.npy")
    cl = np.load(DATA / "lite0_cache" / "logits.npy")
    sel = [
        i
        for i, (rid, v) in enumerate(index)
        if v == 0 and mrows[rid]["split"] != "heldout" and is_val(mrows[rid]["concept"])
    ]
    vman = [mrows[index[i, 0]] for i in sel]
    out["val_pooled"] = torch.from_numpy(cp[sel].astype(np.float32))
    out["val_logits"] = torch.from_numpy(cl[sel].astype(np.float32))
    for lang in ("ko", "en"):
        q = text_queries(vman, lang)
        ts = sorted(q)
        qs[f"val/{lang}"] = (torch.from_numpy(lite0.e5_query(ts)), [sorted(q[t]) for t in ts])
    out["queries"] = qs
    torch.save(out, FEATS)
    return out


def class_name_vecs() -> np.ndarray:
    from train_lite0 import class_vectors

    en, ko = class_vectors(DATA)
    e = en + ko
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    e = e.astype(np.float32)
    np.save(RUNS / "class_name_vecs.npy", e)
    np.save(RUNS / "class_name_vecs_mean.npy", e.mean(0))
    ec = e - e.mean(0)
    np.save(RUNS / "class_name_vecs_centred.npy", ec / np.linalg.norm(ec, axis=1, keepdims=True))
    return e


def recall(sims: torch.Tensor, relevant: list, k: int) -> float:
    top = sims.topk(k, dim=1).indices.tolist()
    return float(np.mean([bool(set(r) & set(rel)) for r, rel in zip(top, relevant, strict=True)]))


def gated(pooled, logits, W, b, E, cfg, mu=None, oracle=None):
    h = F.normalize(pooled @ W.t() + b, dim=-1)
    p = logits.softmax(-1)
    pv, pi = p.topk(cfg["k"], dim=-1)
    c = F.normalize((pv.unsqueeze(-1) * E[pi]).sum(1), dim=-1)
    if mu is not None:  # centre the ConSE vector by its mean over training drawings
        c = F.normalize(c - mu, dim=-1)
    maxp = pv[:, 0]
    a, bb, wm = cfg["a"], cfg["b"], cfg["wmax"]
    if oracle is not None:  # diagnostic: w = wmax on photos, 0 on drawings
        w = torch.full_like(maxp, wm if oracle else 0.0)
    elif bb <= a:  # constant weight (ungated)
        w = torch.full_like(maxp, wm)
    else:
        w = wm * ((maxp - a) / (bb - a)).clamp(0, 1)
    return F.normalize((1 - w).unsqueeze(-1) * h + w.unsqueeze(-1) * c, dim=-1), w


def evaluate(split, f, W, b, E, cfg, mu=None, tmean=None):
    orc = cfg.get("oracle")
    g, w = gated(
        f[f"{split}_pooled"], f[f"{split}_logits"], W, b, E, cfg, mu, False if orc else None
    )
    ph, pw = gated(f["photo_pooled"], f["photo_logits"], W, b, E, cfg, mu, True if orc else None)
    res = {"w_draw_mean": float(w.mean()), "w_photo_mean": float(pw.mean())}
    n = len(g)
    mixed = torch.cat([g, ph])  # drawings first, photos after
    for lang in ("ko", "en"):
        qv, rel = f["queries"][f"{split}/{lang}"]
        qc = (lambda q: F.normalize(q - tmean, dim=-1)) if tmean is not None else (lambda q: q)
        qv = qc(qv)
        res[f"{lang}_draw"] = recall(qv @ g.t(), rel, 10)
        res[f"{lang}_draw+ph"] = recall(qv @ mixed.t(), rel, 10)
        pq = qc(f["queries"][f"photo/{lang}"])
        res[f"{lang}_photo"] = recall(pq @ mixed.t(), [[n + i] for i in range(len(pq))], 5)
    return res


# name, k, centring of the ConSE vector ("n": none, "cls": class vectors minus their mean,
# "tr": ConSE vector minus its mean over training drawings), a, b, wmax (b <= a: constant
# w = wmax), oracle (w = wmax on photos, 0 on drawings: a diagnostic, not a product gate),
# query centring (queries minus text_mean, a query-time change)
CONFIGS = [
    ("head only", 10, "n", 0.0, 0.0, 0.0, False, False),
    ("const w=0.3", 10, "n", 0.0, 0.0, 0.3, False, False),
    ("const w=0.5", 10, "tr", 0.0, 0.0, 0.5, False, False),
    ("oracle", 10, "n", 0.0, 0.0, 1.0, True, False),
    ("oracle", 10, "tr0.5", 0.0, 0.0, 1.0, True, False),
    ("oracle", 10, "tr", 0.0, 0.0, 1.0, True, False),
    ("oracle", 10, "cls", 0.0, 0.0, 1.0, True, False),
    ("oracle", 10, "tr", 0.0, 0.0, 1.0, True, True),
    ("gate", 10, "n", 0.3, 0.6, 1.0, False, False),
    ("gate", 10, "tr0.5", 0.4, 0.6, 1.0, False, False),
    ("gate", 10, "tr", 0.2, 0.5, 1.0, False, False),
    ("gate", 10, "tr", 0.3, 0.6, 1.0, False, False),
    ("gate", 10, "tr", 0.4, 0.7, 1.0, False, False),
    ("gate", 10, "tr", 0.3, 0.6, 1.0, False, True),
    ("gate", 5, "cls", 0.3, 0.6, 1.0, False, False),
    ("gate", 10, "cls", 0.3, 0.6, 1.0, False, False),
    ("gate", 10, "cls", 0.4, 0.7, 1.0, False, False),
    ("gate", 10, "cls", 0.5, 0.6, 1.0, False, False),
    ("gate", 10, "cls", 0.3, 0.6, 0.7, False, False),
]


def conse_train_mean(E: torch.Tensor, k: int) -> torch.Tensor:
    """Mean ConSE vector (class vectors E, top k) over the plain views of the training
    drawings (train split minus the val concepts, so the same vector serves both heads)."""
    from train_clip import load_manifest
    from train_lite0 import is_val

    rows = load_manifest(DATA)
    index = np.load(DATA / "lite0_cache" / "index.npy")
    sel = [
        i
        for i, (rid, v) in enumerate(index)
        if v == 0 and rows[rid]["split"] == "train" and not is_val(rows[rid]["concept"])
    ]
    lg = torch.from_numpy(np.load(DATA / "lite0_cache" / "logits.npy")[sel].astype(np.float32))
    pv, pi = lg.softmax(-1).topk(k, dim=-1)
    return F.normalize((pv.unsqueeze(-1) * E[pi]).sum(1), dim=-1).mean(0)


def main() -> int:
    torch.set_num_threads(2)
    t0 = time.time()
    f = extract()
    print(f"features ready ({time.time() - t0:.0f}s)", flush=True)
    E0 = torch.from_numpy(class_name_vecs())
    Ec = F.normalize(E0 - E0.mean(0), dim=-1)
    heads = {"val": head_of(VAL_HEAD), "held": head_of(SHIPPED)}
    lines = []

    def out(s=""):
        print(s, flush=True)
        lines.append(s)

    out("# Confidence-gated ConSE mixing (training/gate_conse.py)")
    out()
    out("max_p (top ImageNet probability) quantiles 10/25/50/75/90 %:")
    for name in ("photo", "val", "held"):
        mp = f[f"{name}_logits"].softmax(-1).max(-1).values
        qs = torch.quantile(mp, torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9]))
        out(f"  {name:<6} n={len(mp):5d}  " + " ".join(f"{v:.3f}" for v in qs.tolist()))
    for thr in (0.2, 0.3, 0.4, 0.5, 0.6):
        fr = {
            n: float((f[f"{n}_logits"].softmax(-1).max(-1).values >= thr).float().mean())
            for n in ("photo", "val", "held")
        }
        out(
            f"  share with max_p >= {thr}: photos {fr['photo']:.2f}, val drawings {fr['val']:.2f},"
            f" held-out drawings {fr['held']:.2f}"
        )
    out("separation photos vs drawings, AUC (0.5 = none, 1 = perfect), photos vs held-out / val:")

    def auc(pos, neg):
        return float(
            (pos[:, None] > neg[None, :]).float().mean()
            + 0.5 * (pos[:, None] == neg[None, :]).float().mean()
        )

    def scores(lg):
        p = lg.softmax(-1)
        return {
            "max_p": p.max(-1).values,
            "-entropy": (p * p.clamp_min(1e-12).log()).sum(-1),
            "top-5 mass": p.topk(5, -1).values.sum(-1),
            "max logit": lg.max(-1).values,
        }

    sp, sh, sv = (scores(f[f"{n}_logits"]) for n in ("photo", "held", "val"))
    for key in sp:
        out(f"  {key:<11} {auc(sp[key], sh[key]):.3f} / {auc(sp[key], sv[key]):.3f}")
    out()
    cfgs = list(CONFIGS)
    extra = os.environ.get("GATE_EXTRA")  # "name,k,cen,a,b,wmax,oracle,qc;..."
    if extra:
        for spec in extra.split(";"):
            n, k, cen, a, bb, wm, orc, qc = spec.split(",")
            cfgs.append((n, int(k), cen, float(a), float(bb), float(wm), orc == "1", qc == "1"))
    from safetensors.torch import load_file

    tmean = load_file(str(SHIPPED))["text_mean"].float()
    mus = {}
    hdr = (
        f"{'config':<12}{'k':>3}{'cen':>6}{'qc':>3}{'a':>5}{'b':>5}{'wmax':>5} | "
        f"{'split':<5}{'ko R@10':>8}{'+ph':>6}{'en R@10':>8}{'+ph':>6}{'ko ph R@5':>10}"
        f"{'en ph R@5':>10}{'w draw':>7}{'w ph':>6}"
    )
    out("Columns: drawings text->image R@10 (gallery: drawings only; '+ph': drawings + the 29")
    out("photos); photo R@5 (gallery: 29 photos + drawings); mean w on drawings / photos.")
    out("val: head of abl_07 (trained without the val concepts), 784 val drawings (cached")
    out("224 px views); test: shipped tower, 1,582 held-out drawings, product decoding.")
    out("The 29 photos are the same in both rows: photo numbers are never held out.")
    out("cen: ConSE centring (n none; cls class vectors minus their mean; tr ConSE vector")
    out("minus its training-drawing mean; tr0.5 half of it). qc: queries minus text_mean.")
    out("oracle: w = wmax on photos, 0 on drawings (perfect domain knowledge, an upper bound).")
    out()
    out(hdr)
    out("-" * len(hdr))
    results = []
    for name, k, cen, a, bb, wm, orc, qc in cfgs:
        cfg = {"k": k, "a": a, "b": bb, "wmax": wm, "oracle": orc, "query_centred": qc}
        E = Ec if cen == "cls" else E0
        lam = float(cen[2:] or 1) if cen.startswith("tr") else 0.0  # "tr0.5": c - 0.5 mu
        if lam and k not in mus:
            mus[k] = conse_train_mean(E0, k)
            np.save(RUNS / f"conse_train_mean_k{k}.npy", mus[k].numpy())
        row = {"name": name, "cfg": cfg, "centred": cen}
        for split in ("val", "held"):
            W, b = heads[split]
            r = evaluate(
                split, f, W, b, E, cfg, lam * mus[k] if lam else None, tmean if qc else None
            )
            row[split] = r
            out(
                f"{name:<12}{k:>3}{cen:>6}{'y' if qc else 'n':>3}{a:>5.2f}{bb:>5.2f}{wm:>5.2f} | "
                f"{'val' if split == 'val' else 'test':<5}"
                f"{r['ko_draw']:>8.3f}{r['ko_draw+ph']:>6.3f}"
                f"{r['en_draw']:>8.3f}{r['en_draw+ph']:>6.3f}{r['ko_photo']:>10.3f}"
                f"{r['en_photo']:>10.3f}{r['w_draw_mean']:>7.2f}{r['w_photo_mean']:>6.2f}"
            )
        results.append(row)
    (RUNS / "gate_conse.txt").write_text("\n".join(lines) + "\n")
    (RUNS / "gate_conse.json").write_text(json.dumps(results, indent=1))
    print(f"({time.time() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
