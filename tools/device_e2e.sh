#!/bin/bash
# End-to-end checks of engine selection on a CUDA machine (run on the device
# by tools/cuda_device_run.sh with E2E=1, binaries in $B): the same greedy
# text on cuda, after a mid-generation CUDA fault (failover to cpu), and with
# a VRAM budget too small for the model (cpu takes it, with the reason).
set -u
B=${B:-/tmp/v_main}
M=${LOCALM_TESTDATA:?}/models/tiny-llama3-f16.gguf
run() { timeout 120 "$B/bin/localm" run -m "$M" -p "The jury said" -n 24 --temp 0 2>/tmp/err; }
clean=$(run); echo "clean:  [$clean]"; grep -E "^backend|prompt" /tmp/err
fault=$(LOCALM_FAULT=forward:5 run); echo "fault:  [$fault]"; grep -E "^backend|prompt" /tmp/err
budget=$(LOCALM_VRAM_BUDGET=1M run); echo "budget: [$budget]"; grep -E "^backend|prompt" /tmp/err
cpu=$(LOCALM_BACKEND=cpu run); echo "cpu:    [$cpu]"
[ "$clean" = "$fault" ] && echo "failover text: same" || echo "failover text: DIFFERENT"
[ "$clean" = "$budget" ] && echo "budget fallback text: same" || echo "budget fallback text: DIFFERENT"
[ "$clean" = "$cpu" ] && echo "cuda vs cpu text: same" || echo "cuda vs cpu text: DIFFERENT"
