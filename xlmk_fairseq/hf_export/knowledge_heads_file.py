"""The XLM-K knowledge heads and relation table next to a Hugging Face export.

``XLMRobertaForMaskedLM`` has no place for them, so they go to their own safetensors file
(``xlmk_knowledge_heads.safetensors``, tensor names of ``KnowledgeHeads``, sizes in its
metadata; only the heads that the run trained, as their tensor names show) with the data's
``relations.tsv`` beside it. Load them with::

    from xlmk_fairseq.hf_export.knowledge_heads_file import load_knowledge_heads
    heads = load_knowledge_heads(export_dir)     # a KnowledgeHeads module, eval mode
    entity_key = heads.mep_key(hf_model.roberta(ids).last_hidden_state[:, 0])
"""

import os

HEADS_FILE = "xlmk_knowledge_heads.safetensors"
RELATIONS_FILE = "relations.tsv"


def save_knowledge_heads(model_state, embed_dim, proj_dim, num_relations, out_dir):
    from safetensors.torch import save_file

    prefix = "knowledge_heads."
    tensors = {k[len(prefix):]: v.detach().clone().contiguous() for k, v in model_state.items() if k.startswith(prefix)}
    if not tensors:
        return None
    meta = {"embed_dim": str(embed_dim), "proj_dim": str(proj_dim), "num_relations": str(num_relations)}
    path = os.path.join(out_dir, HEADS_FILE)
    save_file(tensors, path, metadata=meta)
    return path


def load_knowledge_heads(export_dir):
    from safetensors import safe_open

    from ..models.knowledge_heads import KnowledgeHeads, heads_of_state_dict

    path = os.path.join(export_dir, HEADS_FILE)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    heads = KnowledgeHeads(int(meta["embed_dim"]), int(meta["proj_dim"]), int(meta["num_relations"]),
                           heads_of_state_dict(tensors))
    heads.load_state_dict(tensors)
    return heads.eval()
