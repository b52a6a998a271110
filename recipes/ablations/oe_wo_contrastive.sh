#!/usr/bin/env bash
# Table 4 of the paper, row "OE w/o contrastive loss": the base recipe with --oe-loss classification.
# Same arguments as recipes/xlmk_base.sh (including --smoke).
exec "$(dirname "$0")/../xlmk_base.sh" "$@" --oe-loss classification
