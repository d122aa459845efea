#!/bin/sh
# demo-quality.sh — asks the embedded demo model "What does 'X' mean?" for a
# handful of common words through `localm run` (greedy, ChatML prompt written
# out since `run` sends the prompt as is) and prints each answer, with
# PyTorch's greedy answer from models/localm-demo.json underneath to compare.
#   tools/demo-quality.sh [LOCALM_BINARY] [MODEL]
set -eu
bin=${1:-build/bin/localm}
model=${2:-models/localm-demo.gguf}
refs=$(dirname "$0")/../models/localm-demo.json
for w in harbor dog happy river teacher quickly build music friend cold book strong; do
    p=$(printf "<|im_start|>user\nWhat does '%s' mean?<|im_end|>\n<|im_start|>assistant\n" "$w")
    echo "Q: What does '$w' mean?"
    printf 'A (localm):  '
    "$bin" run -m "$model" -p "$p" --temp 0 -n 96 2>/dev/null | tr '\n' ' '
    echo
    if command -v python3 >/dev/null 2>&1 && [ -f "$refs" ]; then
        python3 -c "import json,sys; a={x['word']:x['answer'] for x in json.load(open(sys.argv[1]))['answers']}; print('A (PyTorch): ' + a.get(sys.argv[2], '-'))" "$refs" "$w"
    fi
    echo
done
