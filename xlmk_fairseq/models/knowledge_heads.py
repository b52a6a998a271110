"""The projection heads of XLM-K's two knowledge tasks (Eq. 1-4 of the paper)."""

import torch
import torch.nn as nn

# Which heads each loss trains. Only the groups that the configuration's losses use are
# built: a parameter that gets no gradient stops fairseq's default DDP backend (c10d,
# without --find-unused-parameters) at the second update.
HEAD_GROUPS = {
    "mep": ("mep_query", "mep_key"),
    "oe": ("oe_query", "oe_key", "relation_embeddings"),
    "relation_classifier": ("relation_classifier",),
}


def head_groups(knowledge_tasks, oe_loss="contrastive"):
    """The head groups that ``--knowledge-tasks`` and ``--oe-loss`` train."""
    groups = []
    if "mep" in knowledge_tasks:
        groups.append("mep")
    if "oe" in knowledge_tasks:
        groups.append("oe" if oe_loss == "contrastive" else "relation_classifier")
    return tuple(groups)


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
    ``groups`` (keys of HEAD_GROUPS) says which of them exist.
    """

    def __init__(self, embed_dim: int, proj_dim: int, num_relations: int,
                 groups=("mep", "oe")):
        super().__init__()
        unknown = set(groups) - set(HEAD_GROUPS)
        if unknown:
            raise ValueError(f"unknown knowledge head groups {sorted(unknown)}")
        self.groups = tuple(g for g in HEAD_GROUPS if g in groups)
        num_relations = max(num_relations, 1)
        if "mep" in groups:
            self.mep_query = ProjectionHead(embed_dim, proj_dim)
            self.mep_key = ProjectionHead(embed_dim, proj_dim)
        if "oe" in groups:
            self.oe_query = ProjectionHead(embed_dim, proj_dim)
            self.oe_key = ProjectionHead(embed_dim, proj_dim)
            self.relation_embeddings = nn.Embedding(num_relations, embed_dim)
            nn.init.normal_(self.relation_embeddings.weight, mean=0.0, std=0.02)
        if "relation_classifier" in groups:
            self.relation_classifier = ProjectionHead(2 * embed_dim, proj_dim, num_relations)

    def __contains__(self, head: str) -> bool:
        return head in self._modules


def groups_of_state_dict(names):
    """The head groups whose tensors appear among ``names`` (relative to the heads)."""
    return tuple(g for g, heads in HEAD_GROUPS.items()
                 if any(n.split(".")[0] in heads for n in names))
