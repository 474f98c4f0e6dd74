#!/bin/sh
# Issue 26: captioned photos in the lite0 head's batches. Each run is the shipped recipe
# (--tune head --center batch --ko-weight 3) on all training concepts plus the photo
# options listed; then training/eval_photos.py scores every head, paired as the product
# pairs it (semsearch-clip-duo), on the held-out drawings, evalsets/photos and the held-out
# photo split. Needs: build_data.py, build_data224.py, cache_lite0.py --views 3 --fp32,
# cache_photos.py --views 48 --stamp-views 8, cache_stamp_scenes.py --views 8 (the tables of
# bench/results/photos_captioned_ablation_2026-12-07.txt: A-B on a 2-view cache, C-D on 3 views,
# run with R=training/runs/<folder> per cache).
set -e
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
R=${R:-training/runs/photos26}
BASE="--tune head --center batch --ko-weight 3 --threads ${THREADS:-1}"
run() {
    name=$1; shift
    [ -f $R/$name/visual.safetensors ] || $PY training/train_lite0.py $BASE "$@" --out $R/$name > /dev/null
}
run base
run pseudo_photo_f10 --photos 0.1 --pseudo-topk 10 --photo-kinds photo --photo-captions pseudo
run real_f10 --photos 0.1 --photo-captions real
run real_f20 --photos 0.2 --photo-captions real
run real_photo_f10 --photos 0.1 --photo-captions real --photo-kinds photo
run real_scenes_f20 --photos 0.2 --photo-captions real --stamp-scenes add
run real_scenes_f30 --photos 0.3 --photo-captions real --stamp-scenes add
run real_sceneonly_f20 --photos 0.2 --photo-captions real --stamp-scenes only
names="base pseudo_photo_f10 real_f10 real_f20 real_photo_f10 real_scenes_f20 real_scenes_f30 real_sceneonly_f20"
$PY training/eval_photos.py --threads ${THREADS:-1} \
    --weights searchengine/weights/semsearch-clip-lite0-visual.safetensors \
    $(for n in $names; do echo $R/$n/visual.safetensors; done) \
    --names shipped $names --json $R/ablation.json
# second batch (after the first table): fewer photo rows, alignment, seeds
run real_scenes_f10 --photos 0.1 --photo-captions real --stamp-scenes add
run real_scenes_f15 --photos 0.15 --photo-captions real --stamp-scenes add
run real_scenes_f20_align1 --photos 0.2 --photo-captions real --stamp-scenes add --domain-align 1
run real_scenes_f20_drmean --photos 0.2 --photo-captions real --stamp-scenes add --photo-mean drawings
run real_scenes_f20_s1 --photos 0.2 --photo-captions real --stamp-scenes add --seed 1
run real_scenes_f20_s2 --photos 0.2 --photo-captions real --stamp-scenes add --seed 2
run base_s1 --seed 1
names2="base base_s1 real_scenes_f10 real_scenes_f15 real_scenes_f20 real_scenes_f20_s1 real_scenes_f20_s2 real_scenes_f20_align1 real_scenes_f20_drmean"
$PY training/eval_photos.py --threads ${THREADS:-1} \
    --weights $(for n in $names2; do echo $R/$n/visual.safetensors; done) \
    --names $names2 --json $R/ablation2.json
