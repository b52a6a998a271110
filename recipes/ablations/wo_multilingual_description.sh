#!/usr/bin/env bash
# Table 4 of the paper, row "w/o multilingual description": the base recipe with --mep-description-language same.
# Same arguments as recipes/xlmk_base.sh (including --smoke).
# Key encoder: the base recipe's, shared (the paper's; why: recipes/xlmk_base.sh), so that the row
# differs from XLM-K in the description language alone.
exec "$(dirname "$0")/../xlmk_base.sh" "$@" --mep-description-language same
