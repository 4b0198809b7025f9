#!/usr/bin/env bash
# The GPU check kit: ships pgpipe to an offline GPU host in pieces of at most 60 MB and measures, on that host, our
# bench (--device cuda) at batch 1, 8 and 32 against Hugging Face transformers' PaliGemmaForConditionalGeneration in
# bf16 and fp32, on a random-weight model at the real PaliGemma 2 3B-448 widths. See tools/gpu/README.md.
#
#   tools/gpu/gpu_kit.sh prepare [--flavor gpu|cpu] [--out DIR]      # here: publish, compress, split, checksum
#   tools/gpu/gpu_kit.sh run --kit DIR [--results DIR] [--cpu]       # on the GPU host: steps (a) to (d)
#   tools/gpu/gpu_kit.sh dry-run                                     # CI: prepare + run on the CPU at small widths
#
# Every step of `run` is time-boxed and writes its partial results to --results before the next one starts.
# Knobs (environment): PIECE_BYTES (60000000), XZ_LEVEL (6; the dry run uses 0), KIT_BUDGET_S (360: steps b to d),
# KIT_BATCHES ("1 8 32"), KIT_NEW_TOKENS (32), KIT_PRESET (gpu-3b448), KIT_PYTHON (python3), KIT_THREADS (nproc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
PIECE_BYTES="${PIECE_BYTES:-60000000}"
XZ_LEVEL="${XZ_LEVEL:-6}"
log() { printf '[gpu-kit %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- prepare (the development machine: dotnet, NuGet) --------------------------------------------------------------
prepare() {
  local flavor=gpu out="$repo/artifacts/gpu-kit" no_build=0
  while (($#)); do
    case $1 in
      --flavor) flavor=$2; shift 2 ;;
      --out) out=$2; shift 2 ;;
      --no-build) no_build=1; shift ;;   # framework-dependent publish of the Release build already made (dry run)
      *) die "prepare: unknown argument $1" ;;
    esac
  done
  local publish
  publish="$(mktemp -d)/pgpipe"
  if ((no_build)); then
    log "publish: framework-dependent, existing Release build (CPU flavour)"
    dotnet publish "$repo/src/PaliGemma.Pipeline.Cli" -c Release --no-build -o "$publish" -nologo -v q >&2
  else
    local ort=Cpu; [[ $flavor == gpu ]] && ort=Gpu
    log "publish: self-contained linux-x64, OrtFlavor=$ort (the GPU flavour carries the CUDA provider libraries)"
    dotnet publish "$repo/src/PaliGemma.Pipeline.Cli" -c Release -r linux-x64 --self-contained -p:OrtFlavor="$ort" -o "$publish" -nologo -v q >&2
  fi
  # Only linux-x64 native assets are needed on the host.
  if [[ -d $publish/runtimes ]]; then
    find "$publish/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
  fi
  [[ -x $publish/pgpipe ]] || die "publish produced no pgpipe executable in $publish"
  rm -rf "$out"; mkdir -p "$out/pieces"
  log "compress (xz -$XZ_LEVEL) and split into pieces of at most $PIECE_BYTES bytes"
  tar -C "$(dirname "$publish")" -cf - pgpipe | xz -T0 "-$XZ_LEVEL" | split -b "$PIECE_BYTES" -d -a 3 - "$out/pieces/pgpipe.tar.xz.part-"
  (cd "$out/pieces" && sha256sum pgpipe.tar.xz.part-* > SHA256SUMS && cat pgpipe.tar.xz.part-* | sha256sum | sed 's/-$/pgpipe.tar.xz/' > WHOLE.sha256)
  cp "$here/gpu_kit.sh" "$here/kit.py" "$here/README.md" "$repo/tools/gen_tiny_model.py" "$out/"
  echo "$flavor" > "$out/FLAVOR"
  rm -rf "$(dirname "$publish")"
  local biggest
  biggest=$(find "$out" -type f -printf '%s\n' | sort -n | tail -1)
  ((biggest <= PIECE_BYTES)) || die "a file of $biggest bytes exceeds the $PIECE_BYTES-byte piece limit"
  log "kit ready in $out: $(ls "$out/pieces" | grep -c part-) piece(s), largest file $biggest bytes; copy the whole folder to the host"
}

# ---- run (the GPU host: python, torch, transformers; no dotnet, no registry) ----------------------------------------
# step NAME SECONDS CMD...: runs CMD under a time box, records its status; never stops the kit.
step() {
  local name=$1 seconds=$2; shift 2
  local start=$SECONDS status=0
  if ((seconds <= 0)); then
    log "step $name skipped: no time left in the budget"; echo "{\"step\":\"$name\",\"status\":\"skipped (budget)\"}" >> "$results/steps.jsonl"; return 0
  fi
  log "step $name (time box ${seconds}s)"
  timeout --signal=TERM --kill-after=10 "$seconds" "$@" || status=$?
  local took=$((SECONDS - start))
  local what=ok; ((status == 124)) && what=timeout; ((status != 0 && status != 124)) && what="failed ($status)"
  echo "{\"step\":\"$name\",\"status\":\"$what\",\"seconds\":$took}" >> "$results/steps.jsonl"
  log "step $name: $what in ${took}s"
  return 0
}

budget_left() { echo $((budget_end - SECONDS)); }
min() { (($1 < $2)) && echo "$1" || echo "$2"; }

run() {
  local kit="" cpu=0 skip_hf=0
  results=""
  while (($#)); do
    case $1 in
      --kit) kit=$2; shift 2 ;;
      --results) results=$2; shift 2 ;;
      --cpu) cpu=1; shift ;;
      --skip-hf) skip_hf=1; shift ;;
      *) die "run: unknown argument $1" ;;
    esac
  done
  [[ -n $kit ]] || kit="$here"
  kit="$(cd "$kit" && pwd)"
  results="${results:-$kit/results}"
  mkdir -p "$results"
  : > "$results/steps.jsonl"
  local py="${KIT_PYTHON:-python3}" work="$kit/work" preset="${KIT_PRESET:-gpu-3b448}"
  local batches="${KIT_BATCHES:-1 8 32}" new_tokens="${KIT_NEW_TOKENS:-32}" threads="${KIT_THREADS:-$(nproc)}"
  local device=cuda; ((cpu)) && device=cpu
  mkdir -p "$work"

  # (a) install: verify every piece, reassemble, unpack; the host's CUDA libraries on LD_LIBRARY_PATH.
  step a-install 120 bash -c '
    set -euo pipefail
    cd "$1/pieces" && sha256sum -c --quiet SHA256SUMS && cat pgpipe.tar.xz.part-* | sha256sum -c --quiet <(sed "s/pgpipe.tar.xz$/-/" WHOLE.sha256)
    rm -rf "$2/pgpipe" && cat pgpipe.tar.xz.part-* | xz -d | tar -C "$2" -xf -
    test -x "$2/pgpipe/pgpipe"' _ "$kit" "$work"
  [[ -x $work/pgpipe/pgpipe ]] || { "$py" "$kit/kit.py" table --results "$results" || true; die "step a failed: no pgpipe (see $results/steps.jsonl)"; }
  if ((!cpu)); then
    local cuda_libs
    cuda_libs="$("$py" "$kit/kit.py" cuda-libs 2>/dev/null || true)"
    export LD_LIBRARY_PATH="$work/pgpipe:${cuda_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "$LD_LIBRARY_PATH" > "$results/ld_library_path.txt"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$results/gpu.txt" 2>&1 || true
  fi

  budget_end=$((SECONDS + ${KIT_BUDGET_S:-360}))
  # (b) model at the preset's widths, on the host's torch; and one image at the model's size.
  step b-model "$(min 150 "$(budget_left)")" bash -c '
    set -euo pipefail
    "$1" "$2/gen_tiny_model.py" --preset "$3" --out "$4/model" --skip-checks > "$5/model.log" 2>&1
    "$1" "$2/kit.py" image --model "$4/model" --out "$4/image.png"
    cp "$4/model/model_info.json" "$5/model_info.json"' _ "$py" "$kit" "$preset" "$work" "$results"
  [[ -f $work/model/model_info.json ]] || { "$py" "$kit/kit.py" table --results "$results" || true; die "step b failed (see $results/model.log)"; }

  # (c) ours: one process per batch size, GPU memory sampled meanwhile.
  local b
  for b in $batches; do
    local box
    box=$(min 90 "$(budget_left)")
    local sampler=""
    if ((!cpu)) && command -v nvidia-smi >/dev/null; then
      (while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; sleep 0.2; done) > "$results/ours-b$b.mem" &
      sampler=$!
    fi
    step "c-ours-b$b" "$box" bash -c '"$1" bench inference -m "$2" -i "$3" --device "$4" --rewrite-only --skip-reference --json --batch "$5" \
        --max-new-tokens "$6" --iterations 1 --threads "$7" > "$8/ours-b$5.json" 2> "$8/ours-b$5.log"' _ \
        "$work/pgpipe/pgpipe" "$work/model" "$work/image.png" "$device" "$b" "$new_tokens" "$threads" "$results"
    if [[ -n $sampler ]]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
    "$py" "$kit/kit.py" table --results "$results" > /dev/null || true
  done

  # (d) the alternative: transformers' PaliGemmaForConditionalGeneration, same config, bf16 then fp32.
  if ((cpu || skip_hf)); then
    log "step d skipped (CPU dry run or --skip-hf)"
    echo '{"step":"d-hf","status":"skipped"}' >> "$results/steps.jsonl"
  else
    local dtype
    for dtype in bf16 fp32; do
      step "d-hf-$dtype" "$(min 150 "$(budget_left)")" "$py" "$kit/kit.py" hf --model "$work/model" --dtype "$dtype" --batches $batches \
        --new-tokens "$new_tokens" --out "$results/hf-$dtype.jsonl"
      "$py" "$kit/kit.py" table --results "$results" > /dev/null || true
    done
  fi

  "$py" "$kit/kit.py" table --results "$results"
  log "results in $results (table.md, *.json, steps.jsonl)"
}

# ---- dry run (CI: CPU flavour, small widths, step d skipped) ---------------------------------------------------------
dry_run() {
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  # Small pieces so that splitting and reassembling really happen; fast compression.
  PIECE_BYTES=8000000 XZ_LEVEL=0 prepare --flavor cpu --no-build --out "$tmp/kit"
  local pieces
  pieces=$(find "$tmp/kit/pieces" -name 'pgpipe.tar.xz.part-*' | wc -l)
  ((pieces >= 2)) || die "dry run: expected several pieces, got $pieces"
  KIT_PRESET=gpu-dryrun KIT_BATCHES="1 2" KIT_NEW_TOKENS=8 KIT_THREADS=2 KIT_BUDGET_S=240 KIT_PYTHON=/usr/bin/python3 \
    run --kit "$tmp/kit" --results "$tmp/results" --cpu
  local b
  for b in 1 2; do
    [[ -s $tmp/results/ours-b$b.json ]] || { cat "$tmp/results/ours-b$b.log" >&2 || true; die "dry run: no JSON from the bench at batch $b"; }
  done
  /usr/bin/python3 "$tmp/kit/kit.py" check --results "$tmp/results" --batches 1 2
  log "dry run passed: $pieces pieces reassembled, model generated, bench JSON checked"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  run) shift; run "$@" ;;
  dry-run) shift; dry_run "$@" ;;
  *) sed -n '2,12p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
