"""The projection heads of XLM-K's two knowledge tasks (Eq. 1-4 of the paper)."""

import torch
import torch.nn as nn

# Every head a configuration may build; the OE query head comes with the relation table.
HEADS = ("mep_query", "mep_key", "oe_query", "oe_key", "relation_classifier")


def heads_to_build(knowledge_tasks, oe_loss="contrastive"):
    """The heads that ``--knowledge-tasks`` and ``--oe-loss`` train.

    Only those are built: a parameter that gets no gradient stops fairseq's default DDP
    backend (c10d, without --find-unused-parameters) at the second update.
    """
    heads = []
    if "mep" in knowledge_tasks:
        heads += ["mep_query", "mep_key"]
    if "oe" in knowledge_tasks and oe_loss == "contrastive":
        heads += ["oe_query", "oe_key"]
    if "oe" in knowledge_tasks and oe_loss == "classification":
        heads.append("relation_classifier")
    return tuple(heads)


class ProjectionHead(nn.Module):
    """z = W2 ReLU(W1 x): the non-linear projection of SimCLR that the paper uses."""

    def __init__(self, in_dim: int, proj_dim: int, out_dim: int = None):
        super().__init__()
        self.dense = nn.Linear(in_dim, proj_dim)
        self.out_proj = nn.Linear(proj_dim, out_dim or proj_dim)

    def forward(self, x):
        return self.out_proj(torch.relu(self.dense(x)))


class KnowledgeHeads(nn.Module):
    """Query and key heads for Masked Entity Prediction and Object Entailment.

    MEP: query from the mention's first token, key from the description's <s> (Eq. 1, 2).
    OE: query from <s> of the subject description plus the relation embedding (Eq. 3),
    key from <s> of the object description (Eq. 4). ``relation_classifier`` serves the
    "OE w/o contrastive loss" ablation (relation from [subject; object], cross-entropy).
    ``heads`` (names from HEADS) says which of them exist.
    """

    def __init__(self, embed_dim: int, proj_dim: int, num_relations: int,
                 heads=("mep_query", "mep_key", "oe_query", "oe_key")):
        super().__init__()
        unknown = set(heads) - set(HEADS)
        if unknown:
            raise ValueError(f"unknown knowledge heads {sorted(unknown)}")
        self.heads = tuple(h for h in HEADS if h in heads)
        num_relations = max(num_relations, 1)
        for name in ("mep_query", "mep_key", "oe_query", "oe_key"):
            if name in heads:
                setattr(self, name, ProjectionHead(embed_dim, proj_dim))
        if "oe_query" in heads:
            self.relation_embeddings = nn.Embedding(num_relations, embed_dim)
            nn.init.normal_(self.relation_embeddings.weight, mean=0.0, std=0.02)
        if "relation_classifier" in heads:
            self.relation_classifier = ProjectionHead(2 * embed_dim, proj_dim, num_relations)

    def __contains__(self, head: str) -> bool:
        return head in self._modules


def heads_of_state_dict(names):
    """The heads whose tensors appear among ``names`` (relative to KnowledgeHeads)."""
    present = {n.split(".")[0] for n in names}
    return tuple(h for h in HEADS if h in present)
