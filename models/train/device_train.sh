#!/usr/bin/env bash
# One GPU-machine call: train the candidate variants side by side, then copy the checkpoints
# and the log to $OUT (the python part is cut at LIMIT seconds so the copy always runs).
set -u
LIMIT=${LIMIT:-540}
MINUTES=${MINUTES:-7.5}
RUN=var/device_run
mkdir -p "$RUN"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout "$LIMIT" python3 -m models.train.device_run --out "$RUN" --minutes "$MINUTES" "$@"
echo "device_run exit $?"
cp "$RUN"/*.pt "$RUN"/train.log "${OUT:-/tmp}/" 2>/dev/null
tail -n 25 "$RUN"/train.log
