import math

import torch

from xlmk_fairseq.criterions.xlmk import contrastive_loss
from xlmk_fairseq.models.key_queue import KeyQueue


def test_loss_equals_hand_computed_value_with_queue_and_false_negative_masking():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [0.5, 1.0]])
    entities = torch.tensor([5, 7])
    queue = torch.tensor([[0.0, 2.0]])  # a key of entity 7: no negative for query 1
    queue_entities = torch.tensor([7])
    loss, correct = contrastive_loss(q, k, entities, queue, queue_entities)
    # row 0: logits [1, 0.5, 0], positive 1; row 1: logits [0, 1, (2 masked)], positive 1
    expected = (math.log(math.e + math.exp(0.5) + 1) - 1) + (math.log(1 + math.e) - 1)
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    assert correct.item() == 2


def test_without_masking_the_queued_key_of_the_same_entity_would_win():
    q = torch.tensor([[0.0, 1.0]])
    k = torch.tensor([[0.5, 1.0]])
    queue = torch.tensor([[0.0, 2.0]])
    _, correct = contrastive_loss(q, k, torch.tensor([7]), queue, torch.tensor([8]))
    assert correct.item() == 0  # another entity's key scores higher: a real negative
    _, correct = contrastive_loss(q, k, torch.tensor([7]), queue, torch.tensor([7]))
    assert correct.item() == 1


def test_in_batch_duplicate_entity_is_not_a_negative():
    q = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    loss, _ = contrastive_loss(q, k, torch.tensor([4, 4]))
    # each row sees only its own positive: loss 0
    assert loss.item() == 0.0
    loss, _ = contrastive_loss(q, k, torch.tensor([4, 9]))
    assert loss.item() > 0


def test_normalized_keys_and_temperature():
    q = torch.tensor([[3.0, 0.0]])
    k = torch.tensor([[2.0, 2.0]])
    queue = torch.tensor([[0.0, 5.0]])
    loss, _ = contrastive_loss(q, k, torch.tensor([1]), queue, torch.tensor([2]),
                               normalize=True, temperature=0.5)
    pos, neg = (1 / math.sqrt(2)) / 0.5, 0.0
    expected = -pos + math.log(math.exp(pos) + math.exp(neg))
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_queue_is_fifo_and_wraps_around():
    queue = KeyQueue(size=4, dim=2)
    assert queue.fill == 0 and (queue.entities == -1).all()
    queue.enqueue(torch.ones(3, 2), torch.tensor([1, 2, 3]))
    queue.enqueue(2 * torch.ones(3, 2), torch.tensor([4, 5, 6]))
    assert queue.entities.tolist() == [5, 6, 3, 4]
    assert queue.keys[:, 0].tolist() == [2, 2, 1, 2]
    assert int(queue.ptr) == 2 and int(queue.num_enqueued) == 6 and queue.fill == 4
    queue.enqueue(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    assert int(queue.num_enqueued) == 6


def test_queue_keeps_the_newest_keys_when_a_batch_is_larger_than_the_queue():
    queue = KeyQueue(size=2, dim=1)
    queue.enqueue(torch.arange(5.0).view(5, 1), torch.arange(5))
    assert sorted(queue.entities.tolist()) == [3, 4]


def test_a_queue_of_size_zero_holds_nothing_and_is_not_a_candidate():
    queue = KeyQueue(0, 4)
    queue.enqueue(torch.randn(3, 4), torch.arange(3))
    assert queue.fill == 0 and queue.keys.shape == (0, 4)
