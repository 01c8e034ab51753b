#!/usr/bin/env bash
# The unsupervised-CLS explorations of REPRODUCTION.md (one H100; run from the repository root with
# .gpu/ and .whl/ beside it, see bench/gpu_setup.sh). Each variant: 3 seeds, STS-B dev every 25 steps.
#   bash bench/explore_cls.sh part1   # MLP learning rate, warm-up, temperature -> $OUT/explore3.json
#   bash bench/explore_cls.sh part2   # the main table again, MLM auxiliary loss, MLP lr 1e-2
#   bash bench/explore_cls.sh part3   # does the MLP pay off with more steps? 5 epochs, with / without
#   bash bench/explore_cls.sh part4   # the ablation grid with seeds 43 and 44 (seed 42: explore.json)
#   bash bench/explore_cls.sh part5   # the main table with SimCSE's selection interval (125 steps)
#   bash bench/explore_cls.sh part6   # the smallest departures from the recipe: 2 or 3 epochs; temp 0.1 + pooler init
#   bash bench/explore_cls.sh part7   # sentence-transformers' recipe measured (bench/st_reference.py): the three
#                                     # trained rows x 3 seeds, and its CLS row at temperature 0.1 -> st_reference.json
#   bash bench/explore_cls.sh part8   # sentence-transformers' CLS row for 5 epochs -> st_reference.json
#   bash bench/explore_cls.sh part9   # the control for part7: our CLS row at temperature 0.1 without the MLP
#   bash bench/explore_cls.sh part10  # seeds 45 and 46 for the CLS rows of both sides, at the recipe and at
#                                     # temperature 0.1 (ours: pooler-initialised MLP) -> explore8.json, st_reference_45_46.json
# Compare any result file with the reference or with another: simcse reproduce --compare A.json [B.json]
set -e
source bench/gpu_setup.sh
OUT=${OUT:-bench/results}
R() { python3 -m simcse.cli reproduce --model "$MINILM" --groups main --only "unsupervised SimCSE, CLS" \
        --work_dir /tmp/w "$@" 2>&1 | grep -E "^unsupervised|Error|error"; }
case "${1:-part1}" in
  part1)
    O=$OUT/explore3.json
    R --output "$O" --set mlp_learning_rate=3e-4 --suffix " [MLP lr 3e-4]"
    R --output "$O" --set mlp_learning_rate=3e-3 --suffix " [MLP lr 3e-3]"
    R --output "$O" --set mlp_learning_rate=3e-4 mlp_init=pooler --suffix " [MLP lr 3e-4, pooler init]"
    R --output "$O" --set warmup_steps=0.1 --suffix " [warm-up 10%]"
    for t in 0.1 0.02 0.2 0.03 0.07; do R --output "$O" --set temp=$t --suffix " [temp $t]"; done ;;
  part2)
    python3 -m simcse.cli reproduce --model "$MINILM" --output "$OUT/reproduce_main.json" --work_dir /tmp/m 2>&1 \
      | grep -E "^(no|unsup|sup)|Error|error"
    O=$OUT/explore4.json
    R --output "$O" --set do_mlm=true --suffix " [MLM auxiliary loss, weight 0.1]"
    R --output "$O" --set mlp_learning_rate=1e-2 --suffix " [MLP lr 1e-2]" ;;
  part3)
    O=$OUT/explore5.json
    R --output "$O" --eval_steps 125 --set num_train_epochs=5 --suffix " [5 epochs]"
    R --output "$O" --eval_steps 125 --set num_train_epochs=5 pooler_type=cls_before_pooler mlp_only_train=false \
      --suffix " [5 epochs, no MLP]"
    R --output "$O" --eval_steps 125 --set pooler_type=cls_before_pooler mlp_only_train=false --suffix " [1 epoch, no MLP]" ;;
  part4)
    python3 -m simcse.cli reproduce --model "$MINILM" --groups ablation --all_seeds --seeds 43 44 --eval_steps 125 \
      --output "$OUT/ablation_seeds_43_44.json" --work_dir /tmp/a 2>&1 | grep -E "^(unsup|sup)|Error|error" | cut -c1-160 ;;
  part5)
    python3 -m simcse.cli reproduce --model "$MINILM" --groups main --eval_steps 125 \
      --output "$OUT/reproduce_main_eval125.json" --work_dir /tmp/m125 2>&1 | grep -E "^(unsup|sup)|Error|error" ;;
  part6)
    O=$OUT/explore6.json
    for e in 2 3; do R --output "$O" --eval_steps 125 --set num_train_epochs=$e --suffix " [$e epochs]"; done
    R --output "$O" --set temp=0.1 mlp_init=pooler --suffix " [temp 0.1, pooler init]" ;;
  part7)
    S() { python3 -m bench.st_reference --model "$MINILM" --output "$OUT/st_reference.json" --work_dir /tmp/st "$@" 2>&1 | tee -a /tmp/st.log \
            | grep -E "^(unsup|sup)|Error|error"; }
    S
    S --only "unsupervised SimCSE, CLS" --set temp=0.1 --suffix " [temp 0.1]" ;;
  part8)
    [ -f "$OUT/st_reference.json" ] || [ ! -f bench/results/st_reference.json ] || cp bench/results/st_reference.json "$OUT/"
    python3 -m bench.st_reference --model "$MINILM" --output "$OUT/st_reference.json" --work_dir /tmp/st \
      --only "unsupervised SimCSE, CLS" --set num_train_epochs=5 --suffix " [5 epochs]" 2>&1 | tee -a /tmp/st.log | grep -E "^unsup|Error|error" ;;
  part9)
    R --output "$OUT/explore7.json" --set temp=0.1 pooler_type=cls_before_pooler mlp_only_train=false \
      --suffix " [temp 0.1, no MLP]" ;;
  part10)
    R --output "$OUT/explore8.json" --seeds 45 46
    R --output "$OUT/explore8.json" --seeds 45 46 --set temp=0.1 mlp_init=pooler --suffix " [temp 0.1, pooler init]"
    S() { python3 -m bench.st_reference --model "$MINILM" --output "$OUT/st_reference_45_46.json" --work_dir /tmp/st \
            --seeds 45 46 --only "unsupervised SimCSE, CLS" "$@" 2>&1 | tee -a /tmp/st.log | grep -E "^unsup|Error|error"; }
    S
    S --set temp=0.1 --suffix " [temp 0.1]" ;;
  *) echo "usage: bash bench/explore_cls.sh part1|part2|...|part10" >&2; exit 2 ;;
esac
