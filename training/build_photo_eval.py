"""Build evalsets/photos/: real photographs with a Korean and an English caption, taken
from packages that install offline, for the text->image evaluation of the image models
(training/eval_lite0.py).

Sources (see evalsets/photos/SOURCE.md for the licence of each picture):

* PyPI ``scikit-image`` (skimage/data/*): CC0 / public domain sample photos.
* PyPI ``scikit-learn`` (sklearn/datasets/images/*.jpg): CC-BY 2.0 (Flickr).
* Debian ``lomiri-wallpapers-16.04`` / ``lomiri-wallpapers-20.04`` (/usr/share/backgrounds):
  CC0 / CC-BY-4.0 / CC-BY-SA-3.0/4.0 photographs.
* Debian ``mate-backgrounds`` (/usr/share/backgrounds/mate/nature): GPL-2+ photographs.

Only pictures that are real photographs of something a person would name were kept
(abstract renders, textures without a subject, and the Middlebury stereo motorcycle,
whose licence is not stated, were left out). Captions were written by the semsearch
project after looking at each picture: ``ko`` is what a Korean user would type to find
it, ``en`` the same in English.

Each picture is converted to RGB, downscaled to at most 512 px a side (Lanczos) and saved
as JPEG quality 85 as ``<name>.jpg``; ``captions.tsv`` has the header
``file<TAB>ko<TAB>en<TAB>source<TAB>license``.

    apt-get install -y mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
    .venv/bin/pip install -r training/requirements.txt     # scikit-image, scikit-learn
    .venv/bin/python training/build_photo_eval.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "evalsets" / "photos"
MAX_SIDE = 512


def _site(pkg: str) -> Path:
    import importlib

    return Path(importlib.import_module(pkg).__file__).parent


def src_path(src: str) -> Path:
    kind, rel = src.split(":", 1)
    if kind == "skimage":
        return _site("skimage") / "data" / rel
    if kind == "sklearn":
        return _site("sklearn") / "datasets" / "images" / rel
    if kind == "deb":
        return Path(rel)
    raise ValueError(src)


LOMIRI = "/usr/share/backgrounds/"
MATE = "/usr/share/backgrounds/mate/nature/"
SK_CC0 = "CC0 (scikit-image sample data)"

# name, source, ko caption, en caption, source label for the TSV, licence
PHOTOS: list[tuple[str, str, str, str, str, str]] = [
    (
        "astronaut",
        "skimage:astronaut.png",
        "우주비행사",
        "an astronaut",
        "scikit-image skimage.data.astronaut (NASA, Eileen Collins)",
        "public domain (NASA)",
    ),
    (
        "chelsea_cat",
        "skimage:chelsea.png",
        "고양이",
        "a cat",
        "scikit-image skimage.data.chelsea (Stefan van der Walt)",
        SK_CC0,
    ),
    (
        "coffee",
        "skimage:coffee.png",
        "커피 한 잔",
        "a cup of coffee",
        "scikit-image skimage.data.coffee (Rachel Michetti)",
        SK_CC0,
    ),
    (
        "rocket",
        "skimage:rocket.jpg",
        "발사대의 로켓",
        "a rocket on the launch pad",
        "scikit-image skimage.data.rocket (SpaceX)",
        "public domain (SpaceX)",
    ),
    (
        "cameraman",
        "skimage:camera.png",
        "카메라를 든 사진사",
        "a photographer with a camera",
        "scikit-image skimage.data.camera (Lav Varshney)",
        SK_CC0,
    ),
    (
        "coins",
        "skimage:coins.png",
        "옛날 동전",
        "old coins",
        "scikit-image skimage.data.coins (Brooklyn Museum)",
        "no known copyright restrictions",
    ),
    (
        "galaxies",
        "skimage:hubble_deep_field.jpg",
        "우주의 은하",
        "galaxies in space",
        "scikit-image skimage.data.hubble_deep_field (NASA/ESA Hubble)",
        "public domain (NASA)",
    ),
    (
        "temple",
        "sklearn:china.jpg",
        "중국의 절",
        "a Chinese temple",
        "scikit-learn sklearn/datasets/images/china.jpg (danielbuechele, Flickr)",
        "CC-BY-2.0",
    ),
    (
        "dahlia",
        "sklearn:flower.jpg",
        "주황색 꽃",
        "an orange flower",
        "scikit-learn sklearn/datasets/images/flower.jpg (vultilion, Flickr)",
        "CC-BY-2.0",
    ),
    (
        "dragonfly",
        f"deb:{LOMIRI}Dragonfly_by_Bolly.jpg",
        "잠자리",
        "a dragonfly",
        "Debian lomiri-wallpapers-16.04: Dragonfly_by_Bolly.jpg (Bolly)",
        "CC-BY-SA-4.0",
    ),
    (
        "fig",
        f"deb:{LOMIRI}Picture_0B_by_freespace.jpg",
        "그릇에 담긴 무화과",
        "a fig in a bowl",
        "Debian lomiri-wallpapers-16.04: Picture_0B_by_freespace.jpg (Trevor Freespace)",
        "CC-BY-4.0",
    ),
    (
        "paintbrushes",
        f"deb:{LOMIRI}Picture_1A_by_freespace.jpg",
        "붓",
        "paintbrushes",
        "Debian lomiri-wallpapers-16.04: Picture_1A_by_freespace.jpg (Trevor Freespace)",
        "CC-BY-4.0",
    ),
    (
        "wine_drum",
        f"deb:{LOMIRI}Wine_by_Jakkub_Mede.jpg",
        "와인병과 북이 있는 방",
        "a room with a wine bottle and a drum",
        "Debian lomiri-wallpapers-16.04: Wine_by_Jakkub_Mede.jpg (Jakub Mede)",
        "CC-BY-4.0",
    ),
    (
        "autumn_mountain",
        f"deb:{LOMIRI}aitzgorri_by_Aitzol_Berasategi.jpg",
        "가을 산과 초원",
        "mountains and a meadow in autumn",
        "Debian lomiri-wallpapers-16.04: aitzgorri_by_Aitzol_Berasategi.jpg (Aitzol Berasategi)",
        "CC-BY-4.0",
    ),
    (
        "two_dogs",
        f"deb:{LOMIRI}friends_by_Aitzol_Berasategi.jpg",
        "창밖을 내다보는 강아지 두 마리",
        "two dogs looking out of a window",
        "Debian lomiri-wallpapers-16.04: friends_by_Aitzol_Berasategi.jpg (Aitzol Berasategi)",
        "CC-BY-4.0",
    ),
    (
        "forest_stream",
        f"deb:{LOMIRI}life_by_Aitzol_Berasategi.jpg",
        "숲속의 계곡",
        "a stream in the forest",
        "Debian lomiri-wallpapers-16.04: life_by_Aitzol_Berasategi.jpg (Aitzol Berasategi)",
        "CC-BY-4.0",
    ),
    (
        "snowy_mountains",
        f"deb:{LOMIRI}picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "눈 덮인 바위산",
        "rocky mountains with snow",
        "Debian lomiri-wallpapers-16.04: picosdeeuropa_by_Aitzol_Berasategi.jpg "
        "(Aitzol Berasategi)",
        "CC-BY-4.0",
    ),
    (
        "dandelions",
        f"deb:{LOMIRI}seeding_by_Clements_Engelhardt.jpg",
        "민들레 홀씨",
        "dandelion seed heads",
        "Debian lomiri-wallpapers-16.04: seeding_by_Clements_Engelhardt.jpg (Clemens Engelhardt)",
        "CC0-1.0",
    ),
    (
        "sunset",
        f"deb:{LOMIRI}sunset_by_Aitzol_Berasategi.jpg",
        "산 위의 해질녘",
        "sunset over the hills",
        "Debian lomiri-wallpapers-16.04: sunset_by_Aitzol_Berasategi.jpg (Aitzol Berasategi)",
        "CC-BY-4.0",
    ),
    (
        "nuthatch",
        f"deb:{LOMIRI}Kleiber_by_Lukas_Baubkus.jpg",
        "나무줄기에 앉은 새",
        "a bird on a tree trunk",
        "Debian lomiri-wallpapers-20.04: Kleiber_by_Lukas_Baubkus.jpg (Lukas Baubkus)",
        "CC-BY-SA-3.0",
    ),
    (
        "ladybug",
        f"deb:{MATE}LadyBird.jpg",
        "무당벌레",
        "a ladybug",
        "Debian mate-backgrounds: nature/LadyBird.jpg (Charles Barbin)",
        "GPL-2+",
    ),
    (
        "yellow_flower",
        f"deb:{MATE}YellowFlower.jpg",
        "노란 꽃",
        "a yellow flower",
        "Debian mate-backgrounds: nature/YellowFlower.jpg (Charles Barbin)",
        "GPL-2+",
    ),
    (
        "marigold",
        f"deb:{MATE}Garden.jpg",
        "빨간 메리골드 꽃",
        "a red marigold flower",
        "Debian mate-backgrounds: nature/Garden.jpg (Charles Barbin)",
        "GPL-2+",
    ),
    (
        "water_drop",
        f"deb:{MATE}Aqua.jpg",
        "물방울",
        "a splash of a water drop",
        "Debian mate-backgrounds: nature/Aqua.jpg (Charles Barbin)",
        "GPL-2+",
    ),
    (
        "raindrops",
        f"deb:{MATE}RainDrops.jpg",
        "풀잎 위의 빗방울",
        "raindrops on leaves of grass",
        "Debian mate-backgrounds: nature/RainDrops.jpg (blackcombwhistler07)",
        "GPL-2+",
    ),
    (
        "dune_grass",
        f"deb:{MATE}Dune.jpg",
        "바닷가 모래언덕의 풀",
        "grass on a dune by the sea",
        "Debian mate-backgrounds: nature/Dune.jpg (Marco Cogoni)",
        "GPL-2+",
    ),
    (
        "storm",
        f"deb:{MATE}Storm.jpg",
        "먹구름 낀 하늘과 도로",
        "storm clouds over a road",
        "Debian mate-backgrounds: nature/Storm.jpg (Sergey Nazarov)",
        "GPL-2+",
    ),
    (
        "dandelion_seeds",
        f"deb:{MATE}TwoWings.jpg",
        "민들레 씨앗",
        "dandelion seeds",
        "Debian mate-backgrounds: nature/TwoWings.jpg (Charles Barbin)",
        "GPL-2+",
    ),
    (
        "grass",
        f"deb:{MATE}GreenMeadow.jpg",
        "푸른 잔디",
        "green grass",
        "Debian mate-backgrounds: nature/GreenMeadow.jpg (Timothy Schellhase)",
        "GPL-2+",
    ),
]


def load_rgb(path: Path) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = None  # trusted package files, some wallpapers are large
    im = Image.open(path)
    im.draft("RGB", (MAX_SIDE * 2, MAX_SIDE * 2))  # fast JPEG decode at reduced size
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    im = im.convert("RGB")
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return im


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    missing = [s for _, s, *_ in PHOTOS if not src_path(s).is_file()]
    if missing:
        sys.exit("missing sources (install the packages in the docstring): " + ", ".join(missing))
    lines = ["file\tko\ten\tsource\tlicense\n"]
    total = 0
    for name, src, ko, en, label, lic in PHOTOS:
        im = load_rgb(src_path(src))
        dst = args.out / f"{name}.jpg"
        im.save(dst, "JPEG", quality=85, optimize=True)
        total += dst.stat().st_size
        lines.append(f"{dst.name}\t{ko}\t{en}\t{label}\t{lic}\n")
    (args.out / "captions.tsv").write_text("".join(lines), encoding="utf-8")
    print(f"{len(PHOTOS)} photos, {total / 1e6:.2f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
