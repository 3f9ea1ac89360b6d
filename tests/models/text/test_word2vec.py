from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.text.sampling import ContextWindows, noise_weights
from models.text.word2vec import Word2Vec, make_examples, masked_bce_loss

WINDOWS = ContextWindows(
    centers=np.array([1, 2]),
    contexts=np.array([[2, 3, 0, 0], [1, 3, 4, 0]]),
    mask=np.array([[True, True, False, False], [True, True, True, False]]),
)
PROBABILITIES = noise_weights(np.array([0, 5, 5, 5, 5, 5, 5, 5]))


def test_skipgram_examples_are_contexts_then_k_noise_words_per_context():
    examples = make_examples("skipgram", WINDOWS, 2, PROBABILITIES, np.random.default_rng(0))
    assert examples.inputs.tolist() == [[1], [2]]
    assert examples.targets.shape == (2, 4 + 8)
    assert examples.mask.sum(dim=1).tolist() == [2 + 4, 3 + 6]
    assert examples.labels.sum(dim=1).tolist() == [2, 3]
    assert examples.targets[0, :2].tolist() == [2, 3] and examples.labels[0, :2].tolist() == [1, 1]
    noise = examples.targets[0, 4:][examples.mask[0, 4:]]
    assert not set(noise.tolist()) & {2, 3}


def test_cbow_examples_are_the_centre_then_k_noise_words():
    examples = make_examples("cbow", WINDOWS, 3, PROBABILITIES, np.random.default_rng(0))
    assert examples.inputs.tolist() == WINDOWS.contexts.tolist()
    assert examples.input_mask.tolist() == WINDOWS.mask.tolist()
    assert examples.targets[:, 0].tolist() == [1, 2]
    assert examples.labels.tolist() == [[1, 0, 0, 0]] * 2
    assert bool(examples.mask.all())
    assert not (examples.targets[:, 1:] == examples.targets[:, :1]).any()


def test_skipgram_forward_is_the_books_dot_products():
    torch.manual_seed(0)
    model = Word2Vec(8, 5)
    centers, targets = torch.tensor([[1], [2]]), torch.tensor([[2, 3, 4], [1, 5, 6]])
    logits = model(centers, torch.ones(2, 1, dtype=torch.bool), targets)
    # d2l's skip_gram: bmm(embed_v(center), embed_u(contexts_and_negatives).permute(0, 2, 1))
    book = torch.bmm(
        model.input_embedding(centers), model.output_embedding(targets).permute(0, 2, 1)
    ).squeeze(1)
    torch.testing.assert_close(logits, book)


def test_cbow_forward_averages_only_the_real_context_words():
    torch.manual_seed(0)
    model = Word2Vec(8, 5)
    contexts = torch.tensor([[2, 3, 7]])
    mask = torch.tensor([[True, True, False]])
    logits = model(contexts, mask, torch.tensor([[1, 4]]))
    mean = model.input_embedding(torch.tensor([2, 3])).mean(dim=0)
    torch.testing.assert_close(logits[0], model.output_embedding(torch.tensor([1, 4])) @ mean)


def test_loss_is_the_books_masked_sigmoid_cross_entropy():
    logits = torch.tensor([[1.1, -2.2, 3.3, -4.4], [1.1, -2.2, 3.3, -4.4]])
    labels = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    # d2l: BCE with weight=mask, mean over the row, rescaled by row length / real entries.
    book = F.binary_cross_entropy_with_logits(logits, labels, weight=mask.float(), reduction="none")
    book = (book.mean(dim=1) * 4 / mask.sum(dim=1)).mean()
    torch.testing.assert_close(masked_bce_loss(logits, labels, mask), book)
