"""Check the shipped semsearch-clip-lite0 weights file: every tensor loads into the open_clip
vision tower built from the config (strict), the trunk still equals the ImageNet weights
of the package (fp16-rounded), and the ImageNet classifier shipped beside it (for tags)
names the evaluation photos as the package's full-precision model does.

    python training/check_lite0_weights.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lite0  # noqa: E402
import torch  # noqa: E402
from eval_lite0 import PHOTOS, load_tower  # noqa: E402
from imagenet_names import read_tsv  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402


def main() -> int:
    visual, preprocess, path = load_tower("lite0", None)  # strict load of visual.*
    sd = load_file(str(path))
    ref = lite0.imagenet_lite0()
    rsd = ref.state_dict()
    worst = max(
        float((sd[f"visual.trunk.{k}"].float() - v.half().float()).abs().max())
        for k, v in rsd.items()
        if not k.startswith("classifier.") and v.is_floating_point()
    )
    print(f"trunk vs ImageNet weights (fp16-rounded): max |diff| {worst}")
    names = {i: (en, ko) for i, en, ko in read_tsv()}
    files = ["chelsea_cat.jpg", "coffee.jpg", "rocket.jpg", "ladybug.jpg", "dahlia.jpg"]
    x = torch.stack([preprocess(Image.open(PHOTOS / f).convert("RGB")) for f in files])
    xr = torch.stack([lite0.preprocess(Image.open(PHOTOS / f)) for f in files])
    with torch.no_grad():
        pooled = visual.trunk(x)  # open_clip path: pooled 1280-d trunk features
        logits = (
            pooled @ sd["imagenet_classifier.weight"].float().t()
            + sd["imagenet_classifier.bias"].float()
        )
        ref_logits = ref(xr)
    agree = 0
    for f, lg, rl in zip(files, logits, ref_logits, strict=True):
        top = lg.softmax(-1).topk(3)
        rtop = rl.softmax(-1).topk(3)
        agree += int(top.indices[0] == rtop.indices[0])
        shown = ", ".join(
            f"{names[int(i)][1]}/{names[int(i)][0]} {float(p):.2f}"
            for p, i in zip(top.values, top.indices, strict=True)
        )
        print(f"{f:<18} {shown}")
    print(f"top-1 equal to the package's fp32 model on {agree}/{len(files)} photos")
    return 0 if agree == len(files) and worst < 1e-2 else 1


if __name__ == "__main__":
    sys.exit(main())
