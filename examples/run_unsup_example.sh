#!/bin/bash
# Unsupervised SimCSE on Wikipedia sentences: SimCSE's run_unsup_example.sh with our paths.
# Data: SimCSE's data/download_wiki.sh gives data/wiki1m_for_simcse.txt (one sentence a line).
# Override paths with MODEL, TRAIN_FILE, OUTPUT_DIR (and PYTHON); extra flags are passed on
# ("$@"; a later flag wins, e.g. --fp16 False on a CPU). For several GPUs see run_sup_example.sh.
# The same setting as a recipe: simcse train --recipe unsup-bert-base --train_file ... --output_dir ...

ROOT="$(cd "$(dirname "$0")/.." && pwd)"

${PYTHON:-python} "$ROOT/train.py" \
    --model_name_or_path "${MODEL:-bert-base-uncased}" \
    --train_file "${TRAIN_FILE:-data/wiki1m_for_simcse.txt}" \
    --output_dir "${OUTPUT_DIR:-result/my-unsup-simcse-bert-base-uncased}" \
    --num_train_epochs 1 \
    --per_device_train_batch_size 64 \
    --learning_rate 3e-5 \
    --max_seq_length 32 \
    --evaluation_strategy steps \
    --metric_for_best_model stsb_spearman \
    --load_best_model_at_end \
    --eval_steps 125 \
    --pooler_type cls \
    --mlp_only_train \
    --overwrite_output_dir \
    --temp 0.05 \
    --do_train \
    --do_eval \
    --fp16 \
    "$@"
