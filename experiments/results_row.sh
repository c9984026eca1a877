#!/usr/bin/env bash
# One dataset's row of the results tables (docs/results/equal-tuning-cpu.md): the dataset, one shared pre-training, every
# variant and baseline from it, and their comparison (comparison.md, comparison.png).
#
#   bash experiments/results_row.sh CONFIG DATASET_ID RUNS_DIR
#   bash experiments/results_row.sh gym_mujoco.py:hopper-mixed dflow/mujoco/hopper/mixed-v0 runs/hopper
#
# Equal tuning budgets: fql, div and dir each train one sweep of four settings from the shared
# pre-training, fixed here before any score is seen; each sweep's setting is chosen on its
# validation episodes and reported on its test episodes (comparison.md: RUN:best rows;
# all-settings/comparison.md: every setting).
#
# Environment: PRE (30000) pre-training and DF (60000) further updates per run, SIZE (cpu) the
# config option that sets networks and seeds, PARALLEL=1 to train the runs side by side (an
# accelerator has room; a 2-core CPU does not), SKIP_GENERATE=1 to use the dataset already under
# MINARI_DATASETS_PATH; the sweeps: FQL_SWEEP, DIV_SWEEP and DIR_SWEEP (their defaults below);
# VARIANTS (default "bc div dir fql bptt") the runs from the shared pre-training.
# Every run resumes from its checkpoints, so running the script again after an interruption
# carries on.
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: bash experiments/results_row.sh CONFIG DATASET_ID RUNS_DIR" >&2
  exit 2
fi
config=$1 dataset=$2 runs=$3
pre=${PRE:-30000} df=${DF:-60000} size=${SIZE:-cpu}
fql_sweep=${FQL_SWEEP:---config.sweep.agent.alpha=0.3,1,3,10}
div_sweep=${DIV_SWEEP:---config.sweep.agent.rho=0.1,1 --config.sweep.agent.policy_bootstrap=0,1}
dir_sweep=${DIR_SWEEP:---config.sweep.agent.alpha=1,3 --config.sweep.agent.policy_bootstrap=0,1}
python=${PYTHON:-python}
mkdir -p "$runs"

if [ "${SKIP_GENERATE:-0}" != 1 ]; then
  $python -m dflow_jax.datagen generate "$dataset" --quiet
fi
common=(--config="experiments/$config,$size" --config.bc_steps="$pre" --config.save_interval=10000
        --config.max_to_keep=1 --config.progress_bar=False)
train() {  # NAME ARGS...: one run, its output in RUNS_DIR/NAME.log
  local name=$1; shift
  if $python -m dflow_jax.main "${common[@]}" --workdir="$runs/$name" "$@" > "$runs/$name.log" 2>&1; then
    echo "$(date +%T) $name done"
  else
    echo "$(date +%T) $name failed: see $runs/$name.log" >&2
    return 1
  fi
}

# IFQL's critic (expectile 0.9) differs from the shared one, so it trains its own pre-training.
ifql=(ifql --config.df_steps="$df" --config.agent.variant=bc --config.agent.num_samples=32
      --config.agent.expectile=0.9)
read -ra variants <<< "${VARIANTS:-bc div dir fql bptt}"
variant() {  # VARIANT: a run from the shared pre-training
  local extra=()
  case $1 in
    fql) read -ra extra <<< "$fql_sweep" ;;
    div) read -ra extra <<< "$div_sweep" ;;
    dir) read -ra extra <<< "$dir_sweep" ;;
  esac
  train "$1" --config.df_steps="$df" --config.agent.variant="$1" --init_from="$runs/pretrained" \
      "${extra[@]}"
}

failed=0
if [ "${PARALLEL:-0}" = 1 ]; then
  train "${ifql[@]}" & ifql_pid=$!
  train pretrained --config.df_steps=0 --config.agent.variant=bc
  pids=()
  for v in "${variants[@]}"; do
    variant "$v" & pids+=($!)
  done
  for pid in "$ifql_pid" "${pids[@]}"; do wait "$pid" || failed=1; done
else
  train pretrained --config.df_steps=0 --config.agent.variant=bc
  for v in "${variants[@]}"; do
    variant "$v" || failed=1
  done
  train "${ifql[@]}" || failed=1
fi

best='' every=''  # compare's run lists: a sweep by its validation-chosen setting, and by all of them
for v in "${variants[@]}"; do
  case $v in
    div|dir|fql) best+="$runs/$v:best," every+="$runs/$v:*," ;;
    bc) best+="$runs/$v," every+="$runs/$v," ;;
    *) best+="$runs/$v," ;;
  esac
done
$python -m dflow_jax.compare --out="$runs" --workdirs="$best$runs/ifql,$runs/pretrained"
$python -m dflow_jax.compare --out="$runs/all-settings" --workdirs="${every%,}"
exit $failed
