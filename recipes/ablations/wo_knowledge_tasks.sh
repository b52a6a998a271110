#!/usr/bin/env bash
# Table 4 of the paper, row "w/o knowledge tasks": the base recipe with --knowledge-tasks none --description-mlm.
# Same arguments as recipes/xlmk_base.sh (including --smoke).
# Key encoder: none is used (no contrastive task, so no keys).
exec "$(dirname "$0")/../xlmk_base.sh" "$@" --knowledge-tasks none --description-mlm
