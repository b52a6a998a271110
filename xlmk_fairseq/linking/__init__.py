"""Entity linking with the XLM-K knowledge heads (docs/entity-linking.md).

    from xlmk_fairseq.linking import EntityIndex, EntityLinker, load_model
    index = EntityIndex.load("INDEX")                      # memory-mapped; index.search(vectors, k)
    linker = EntityLinker(index, load_model("HF_EXPORT"))   # or load_model("checkpoint.pt", "DATA")
    linker.link_texts(["Die Hauptstadt ist [[Berlin]]."], k=5)

Modules: ``search`` (the exact chunked top-k, shared with xlmk-probe's retrieval),
``approximate`` (faiss, optional), ``encoder`` (the model), ``descriptions`` (what an index
encodes), ``build`` (xlmk-index), ``index_file`` (the format), ``labels``, ``queries``
(mentions -> MEP queries), ``linker``, ``evaluate``, ``mewsli`` (the Mewsli-9 reader), ``cli``.
"""

from .build import build_index
from .encoder import load_model
from .errors import LinkingError
from .index_file import EntityIndex
from .linker import EntityLinker
from .queries import Mention, parse_marked
from .search import exact_search

__all__ = ["EntityIndex", "EntityLinker", "LinkingError", "Mention", "build_index", "exact_search",
           "load_model", "parse_marked"]
