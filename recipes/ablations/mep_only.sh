#!/usr/bin/env bash
# Table 4 of the paper, row "MEP only": the base recipe with --knowledge-tasks mep.
# Same arguments as recipes/xlmk_base.sh (including --smoke).
# Key encoder: the base recipe's, shared (the paper's; why: recipes/xlmk_base.sh), for MEP's keys.
exec "$(dirname "$0")/../xlmk_base.sh" "$@" --knowledge-tasks mep
