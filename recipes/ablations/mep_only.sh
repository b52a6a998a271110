#!/usr/bin/env bash
# Table 4 of the paper, row "MEP only": the base recipe with --knowledge-tasks mep.
# Same arguments as recipes/xlmk_base.sh (including --smoke).
exec "$(dirname "$0")/../xlmk_base.sh" "$@" --knowledge-tasks mep
