"""The projection heads of XLM-K's two knowledge tasks (Eq. 1-4 of the paper)."""

import torch
import torch.nn as nn


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
    """

    def __init__(self, embed_dim: int, proj_dim: int, num_relations: int):
        super().__init__()
        self.mep_query = ProjectionHead(embed_dim, proj_dim)
        self.mep_key = ProjectionHead(embed_dim, proj_dim)
        self.oe_query = ProjectionHead(embed_dim, proj_dim)
        self.oe_key = ProjectionHead(embed_dim, proj_dim)
        self.relation_embeddings = nn.Embedding(max(num_relations, 1), embed_dim)
        self.relation_classifier = ProjectionHead(2 * embed_dim, proj_dim, max(num_relations, 1))
        nn.init.normal_(self.relation_embeddings.weight, mean=0.0, std=0.02)
