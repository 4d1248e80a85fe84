#!/usr/bin/env bash
# Runs Rollcall's allreduce benchmark and the anchors (Open MPI over TCP, PyTorch Gloo)
# alternately, ROUNDS times, in one session, and prints medians and Rollcall/anchor ratios.
# Needs the anchors installed (see ../shared/anchors/README.md); it is not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHORS=${ANCHORS:-../shared/anchors}
ROUNDS=${ROUNDS:-3}
SIZES=4096,65536,1048576,16777216
out=$(mktemp)
for round in $(seq "$ROUNDS"); do
  for R in 2 4; do
    node bin/rollcall.js bench allreduce --ranks "$R" --sizes "$SIZES" --repeats 5 --json >>"$out"
    mpirun --allow-run-as-root --oversubscribe -np "$R" --mca btl tcp,self /usr/bin/python3 "$ANCHORS/mpi_allreduce.py" ${SIZES//,/ } 2>/dev/null >>"$out"
    if [ "$round" = 1 ]; then /usr/bin/python3 "$ANCHORS/gloo_allreduce.py" "$R" 2>/dev/null | grep -v '"bytes": 67108864' >>"$out" || true; fi
  done
done
node bench/summarize-allreduce.mjs "$out"
