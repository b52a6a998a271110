"""Membership in a sorted id array (kept QIDs), without sorting it again per query."""

import numpy as np


def contains(sorted_ids, values):
    """Bool array: which of ``values`` occur in ``sorted_ids`` (sorted, int64). A binary
    search per value: np.isin would sort both arrays again on every call."""
    values = np.asarray(values, dtype=np.int64)
    if not len(sorted_ids):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_ids, values), len(sorted_ids) - 1)
    return sorted_ids[at] == values
