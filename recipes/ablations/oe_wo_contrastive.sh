#!/usr/bin/env bash
# Table 4 of the paper, row "OE w/o contrastive loss": the base recipe with --oe-loss classification.
# Same arguments as recipes/xlmk_base.sh (including --smoke).
# Key encoder: the base recipe's, shared (the paper's; why: recipes/xlmk_base.sh), for MEP's keys;
# OE has no keys here (relation classification).
exec "$(dirname "$0")/../xlmk_base.sh" "$@" --oe-loss classification
