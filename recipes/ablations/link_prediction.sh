#!/usr/bin/env bash
# Link prediction on code-switched triples ("Bridging the Language Gap: Knowledge Injected
# Multilingual Question Answering", section III) in place of XLM-K's tasks: MLM + LP, from XLM-R
# with the base recipe's data, budget and settings, so that the two methods compare one switch
# apart. Same arguments as recipes/xlmk_base.sh (including --smoke). LP uses the MLM head, no
# knowledge head and no key encoder. The data directory needs labels/ (xlmk-preprocess binarize
# writes it; docs/data-format.md). Evaluate as the paper did: MLQA's G-XLT grid with
# xlmk-finetune qa (README, "Link prediction").
exec "$(dirname "$0")/../xlmk_base.sh" "$@" --knowledge-tasks lp
