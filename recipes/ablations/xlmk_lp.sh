#!/usr/bin/env bash
# XLM-K + link prediction: MLM + MEP + OE + LP (--lp-weight 1), the base recipe otherwise.
# Same arguments as recipes/xlmk_base.sh (including --smoke).
# Key encoder: the base recipe's, shared (the paper's; why: recipes/xlmk_base.sh), for MEP's and
# OE's keys; LP has none. The data directory needs labels/ (docs/data-format.md).
exec "$(dirname "$0")/../xlmk_base.sh" "$@" --knowledge-tasks mep,oe,lp
