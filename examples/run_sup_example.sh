#!/bin/bash
# Supervised SimCSE on NLI triplets: SimCSE's run_sup_example.sh with our paths and torchrun
# (DDP; negatives are gathered across GPUs, so 4 GPUs x 128 = the paper's batch of 512).
# Data: SimCSE's data/download_nli.sh gives data/nli_for_simcse.csv (sent0,sent1,hard_neg); or
# build triplets from SNLI/MNLI: python -m simcse.training.data nli-triplets --input ... --output nli.csv
# Override NUM_GPU, MODEL, TRAIN_FILE, OUTPUT_DIR (and PYTHON); extra flags are passed on ("$@").
# The same setting as a recipe: simcse train --recipe sup-bert-base --train_file ... --output_dir ...

ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# In this example, we show how to train SimCSE using multiple GPU cards and PyTorch's distributed data parallel on supervised NLI dataset.
# Set how many GPUs to use
NUM_GPU=${NUM_GPU:-4}

# Randomly set a port number
# If you encounter "address already used" error, just run again or manually set an available port id.
PORT_ID=${PORT_ID:-$(expr $RANDOM + 1000)}

# Allow multiple threads
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}

# Use distributed data parallel
# If you only want to use one card, uncomment the following line and comment the line with "torch.distributed.launch"
# ${PYTHON:-python} "$ROOT/train.py" \
${PYTHON:-python} -m torch.distributed.run --nproc_per_node $NUM_GPU --master_port $PORT_ID "$ROOT/train.py" \
    --model_name_or_path "${MODEL:-bert-base-uncased}" \
    --train_file "${TRAIN_FILE:-data/nli_for_simcse.csv}" \
    --output_dir "${OUTPUT_DIR:-result/my-sup-simcse-bert-base-uncased}" \
    --num_train_epochs 3 \
    --per_device_train_batch_size 128 \
    --learning_rate 5e-5 \
    --max_seq_length 32 \
    --evaluation_strategy steps \
    --metric_for_best_model stsb_spearman \
    --load_best_model_at_end \
    --eval_steps 125 \
    --pooler_type cls \
    --overwrite_output_dir \
    --temp 0.05 \
    --do_train \
    --do_eval \
    --fp16 \
    "$@"
