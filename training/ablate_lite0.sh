#!/bin/sh
# Ablations of semsearch-clip-lite0 on the val split of the TRAINING concepts (--val):
# the held-out split is not looked at. Each run trains the head on the cached frozen
# trunk features (training/cache_lite0.py, training/cache_scene.py): ~30-60 s each.
# Writes training/runs/abl_*/ and prints the Markdown table of training/LITE0_CARD.md.
set -e
cd "$(dirname "$0")/.."
PY=".venv/bin/python"
run() { name=$1; shift; $PY training/train_lite0.py --val --tune head --out "training/runs/$name" "$@" >/dev/null 2>&1; }
rm -rf training/runs/abl_*
run abl_01_conse_zeroshot --zeroshot
run abl_02_linear_raw --center none
run abl_03_linear_conseinit_raw --center none --init conse
run abl_04_linear_centred --center batch
run abl_05_linear_centred_distill0.5 --center batch --distill 0.5
run abl_06_linear_centred_conseinit --center batch --init conse
run abl_07_linear_centred_ko3 --center batch --ko-weight 3
run abl_08_mlp_centred --center batch --proj mlp
run abl_09_linear_centred_3000steps --center batch --steps 3000
run abl_10_linear_centred_scene --center batch --scene
run abl_11_linear_centred_scene_ko3 --center batch --scene --ko-weight 3
run abl_12_linear_centred_scene_distill0.5 --center batch --scene --distill 0.5
run abl_13_mlp_centred_scene_ko3 --center batch --scene --ko-weight 3 --proj mlp
$PY training/ablation_table.py training/runs/abl_*
