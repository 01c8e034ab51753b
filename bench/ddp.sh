#!/usr/bin/env bash
# DDP on 2 GPUs (device kind nvidia-h200-x2): loss parity 2 x 64 vs 1 x 128, scaling 1 -> 2 GPUs,
# and the supervised / MLM variants under torchrun. Results: $OUT/ddp_cuda.json (see bench/ddp.py).
set -e
source bench/gpu_setup.sh
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1  # keep NVLink multicast off
OUT=${OUT:-bench/results}
W=/tmp/ddp
python3 -m bench.ddp prepare $W
SEQ=""
if python3 -c "import dataclasses, transformers as t, sys; sys.exit(0 if 'train_sampling_strategy' in {f.name for f in dataclasses.fields(t.TrainingArguments)} else 1)"; then
  SEQ="--train_sampling_strategy sequential"   # the same data order in both runs, whatever the sampler's seeding
fi
C="--max_seq_length 32 --bf16 --learning_rate 3e-5 --temp 0.05 --pooler_type cls --mlp_only_train --report_to none
   --save_strategy no --seed 42 --disable_tqdm true --overwrite_output_dir --pad_to_max_length --tokenized_cache_dir $W/cache"
T="torchrun --standalone --nproc_per_node 2 train.py"
q() { grep -vE "Warning|warn|^\s*$" | tail -3; }
python3 train.py --model_name_or_path $W/nodrop --train_file $W/wiki.txt $C $SEQ --logging_steps 1 --max_steps 8 \
  --per_device_train_batch_size 128 --output_dir $W/parity_1gpu 2>&1 | q
$T --model_name_or_path $W/nodrop --train_file $W/wiki.txt $C $SEQ --logging_steps 1 --max_steps 8 \
  --per_device_train_batch_size 64 --output_dir $W/parity_2gpu 2>&1 | q
python3 train.py --model_name_or_path $W/drop --train_file $W/wiki.txt $C --logging_steps 50 --max_steps 300 \
  --per_device_train_batch_size 64 --output_dir $W/speed_1gpu 2>&1 | q
$T --model_name_or_path $W/drop --train_file $W/wiki.txt $C --logging_steps 50 --max_steps 300 \
  --per_device_train_batch_size 64 --output_dir $W/speed_2gpu 2>&1 | q
for b in 256; do  # a larger per-GPU batch: communication is a smaller share of each step
  python3 train.py --model_name_or_path $W/drop --train_file $W/wiki.txt $C --logging_steps 25 --max_steps 125 \
    --per_device_train_batch_size $b --output_dir $W/speed${b}_1gpu 2>&1 | q
  $T --model_name_or_path $W/drop --train_file $W/wiki.txt $C --logging_steps 25 --max_steps 125 \
    --per_device_train_batch_size $b --output_dir $W/speed${b}_2gpu 2>&1 | q
done
$T --model_name_or_path $W/drop --train_file $W/triplets.csv $C --logging_steps 10 --max_steps 30 \
  --per_device_train_batch_size 64 --output_dir $W/sup_2gpu 2>&1 | q
$T --model_name_or_path $W/drop --train_file $W/wiki.txt $C --do_mlm --logging_steps 10 --max_steps 30 \
  --per_device_train_batch_size 64 --output_dir $W/mlm_2gpu 2>&1 | q
python3 -m bench.ddp report $W $OUT
