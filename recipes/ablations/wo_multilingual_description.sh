#!/usr/bin/env bash
# Table 4 of the paper, row "w/o multilingual description": the base recipe with --mep-description-language same.
# Same arguments as recipes/xlmk_base.sh (including --smoke).
exec "$(dirname "$0")/../xlmk_base.sh" "$@" --mep-description-language same
