"""word2vec with negative sampling: skip-gram and CBOW in one module.

Both score a target word ``w`` against an input vector ``v`` by the dot product ``u_w . v`` of
two embedding tables (d2l's section "Pretraining word2vec"). Skip-gram's input is the centre
word and its targets the context words plus noise; CBOW's input is the mean of the context
words' embeddings and its targets the centre word plus noise. The input table is the one served
(gensim's ``wv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.text.sampling import ContextWindows, sample_negatives

Arch = Literal["skipgram", "cbow"]
ARCHS: tuple[str, ...] = ("skipgram", "cbow")


class Word2Vec(nn.Module):
    def __init__(self, vocab_size: int, embed_size: int) -> None:
        super().__init__()
        self.input_embedding = nn.Embedding(vocab_size, embed_size)
        self.output_embedding = nn.Embedding(vocab_size, embed_size)
        for table in (self.input_embedding, self.output_embedding):
            nn.init.xavier_uniform_(table.weight)  # as d2l initialises its embeddings

    def forward(self, inputs: Tensor, input_mask: Tensor, targets: Tensor) -> Tensor:
        """Logits of each target word.

        Args:
            inputs (Tensor[B, C], int64): input words (C = 1 for skip-gram: the centre word).
            input_mask (Tensor[B, C], bool): which input words are real.
            targets (Tensor[B, L], int64): words to score against the mean input vector.

        Returns:
            Tensor[B, L]: ``u_target . mean(v_inputs)``.
        """
        weights = input_mask.to(self.input_embedding.weight.dtype).unsqueeze(-1)
        vectors = (self.input_embedding(inputs) * weights).sum(dim=1) / weights.sum(dim=1)
        return torch.bmm(self.output_embedding(targets), vectors.unsqueeze(-1)).squeeze(-1)


def masked_bce_loss(logits: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """d2l's sigmoid binary cross-entropy: averaged over each example's real targets, then over
    the batch."""
    weights = mask.to(logits.dtype)
    per_target = F.binary_cross_entropy_with_logits(
        logits, labels, weight=weights, reduction="none"
    )
    return (per_target.sum(dim=1) / weights.sum(dim=1)).mean()


@dataclass(frozen=True)
class Examples:
    """Training examples as tensors: ``inputs``/``input_mask`` [N, C] feed the model, and
    ``targets``/``labels``/``mask`` [N, L] are what it scores (label 1: a true pair)."""

    inputs: Tensor
    input_mask: Tensor
    targets: Tensor
    labels: Tensor
    mask: Tensor

    def __len__(self) -> int:
        return len(self.inputs)

    def batch(self, index: Tensor) -> Examples:
        return Examples(*(field[index] for field in self.fields()))

    def fields(self) -> tuple[Tensor, ...]:
        return (self.inputs, self.input_mask, self.targets, self.labels, self.mask)

    def to(self, device: torch.device) -> Examples:
        return Examples(*(field.to(device, non_blocking=True) for field in self.fields()))


def make_examples(
    arch: Arch,
    windows: ContextWindows,
    num_noise: int,
    probabilities: np.ndarray,
    rng: np.random.Generator,
) -> Examples:
    """Lay out one epoch of examples for ``arch``.

    Skip-gram: input the centre word; targets its context words then ``num_noise`` noise words
    per context word (none of them a context word), as d2l. CBOW: input the context words;
    targets the centre word then ``num_noise`` noise words (none the centre word).
    """
    width = windows.contexts.shape[1]
    if arch == "skipgram":
        needed = windows.mask.sum(axis=1) * num_noise
        noise, noise_mask = sample_negatives(
            windows.contexts, needed, width * num_noise, probabilities, rng
        )
        inputs, input_mask = windows.centers[:, None], np.ones((len(windows.centers), 1), bool)
        targets = np.concatenate((windows.contexts, noise), axis=1)
        mask = np.concatenate((windows.mask, noise_mask), axis=1)
        labels = np.concatenate((windows.mask, np.zeros_like(noise_mask)), axis=1)
    elif arch == "cbow":
        centers = windows.centers[:, None]
        needed = np.full(len(centers), num_noise)
        noise, noise_mask = sample_negatives(centers, needed, num_noise, probabilities, rng)
        inputs, input_mask = windows.contexts, windows.mask
        targets = np.concatenate((centers, noise), axis=1)
        mask = np.concatenate((np.ones_like(centers, dtype=bool), noise_mask), axis=1)
        labels = np.zeros_like(mask)
        labels[:, 0] = True
    else:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    return Examples(
        inputs=torch.from_numpy(inputs),
        input_mask=torch.from_numpy(input_mask),
        targets=torch.from_numpy(targets),
        labels=torch.from_numpy(labels.astype(np.float32)),
        mask=torch.from_numpy(mask),
    )
