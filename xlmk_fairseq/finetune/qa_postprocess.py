"""From start/end logits over overlapping windows to one answer string per question.

Each window offers its n best starts and n best ends; a pair is a candidate if both tokens are
context tokens, the end does not precede the start, the span has at most max_answer_length tokens,
and the window *owns* the start token: a token seen by several windows belongs to the one where it
has the most context on its shorter side (BERT's "max context" rule, Devlin et al. 2019), so a span
guessed at a window's cut edge loses to the window that sees around it. The candidate with the
highest start + end logit wins; its text is the context sliced by the tokens' character offsets.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Window:
    start_logits: np.ndarray
    end_logits: np.ndarray
    offsets: list              # per token: (first char, end char) in the context, None outside the context


def owners(windows: list[Window]) -> list[set]:
    """Per window, the context tokens (by character offsets) it owns."""
    best = {}
    for w, window in enumerate(windows):
        positions = [o for o in window.offsets if o is not None]
        for i, offset in enumerate(positions):
            score = min(i, len(positions) - 1 - i) + 0.01 * len(positions)
            if offset not in best or score > best[offset][0]:
                best[offset] = (score, w)
    owned = [set() for _ in windows]
    for offset, (_, w) in best.items():
        owned[w].add(offset)
    return owned


def best_answer(context: str, windows: list[Window], n_best: int, max_answer_length: int) -> str:
    """The highest-scoring valid span's text, or "" when no window offers one."""
    best_score, best_span = -np.inf, None
    for window, owned in zip(windows, owners(windows)):
        starts = np.argsort(window.start_logits)[::-1][:n_best]
        ends = np.argsort(window.end_logits)[::-1][:n_best]
        for s in starts:
            if window.offsets[s] is None or window.offsets[s] not in owned:
                continue
            for e in ends:
                if window.offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                    continue
                score = window.start_logits[s] + window.end_logits[e]
                if score > best_score:
                    best_score, best_span = score, (window.offsets[s][0], window.offsets[e][1])
    return context[best_span[0]:best_span[1]] if best_span else ""
