from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.ops import multibox_prior, multibox_target
from models.vision.detection.ssd import AnchorConfig, TinySSD, ssd_loss


def test_tinyssd_has_the_books_shapes_and_anchors():
    model = TinySSD(num_classes=1)
    assert model.anchors.shape == (5444, 4)  # the book's count for 256x256 inputs
    first_scale = multibox_prior(32, 32, [0.2, 0.272], [1, 2, 0.5])
    torch.testing.assert_close(model.anchors[: len(first_scale)], first_scale)
    torch.testing.assert_close(model.anchors[-4:], multibox_prior(1, 1, [0.88, 0.961], [1, 2, 0.5]))
    cls_logits, offsets = model(torch.rand(2, 3, 256, 256))
    assert cls_logits.shape == (2, 5444, 2) and offsets.shape == (2, 5444, 4)
    three = TinySSD(
        num_classes=3, input_size=128, anchors=AnchorConfig(sizes=[[0.3]] * 5, ratios=[[1, 2]] * 5)
    )
    assert three.anchors.shape == ((16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1) * 2, 4)
    assert three(torch.rand(1, 3, 128, 128))[0].shape == (1, len(three.anchors), 4)


def test_loss_and_figures_are_the_books():
    torch.manual_seed(0)
    model = TinySSD(num_classes=2, input_size=64)
    cls_logits, offsets = model(torch.rand(3, 3, 64, 64))
    labels = torch.tensor(
        [[[0, 0.1, 0.1, 0.5, 0.5], [1, 0.5, 0.5, 0.9, 0.8]],
         [[1, 0.2, 0.3, 0.6, 0.9], [-1, 0, 0, 0, 0]],
         [[0, 0.0, 0.0, 1.0, 1.0], [-1, 0, 0, 0, 0]]]
    )  # fmt: skip
    result = ssd_loss(cls_logits, offsets, model.anchors, labels)
    offsets_t, mask, classes, _ = multibox_target(model.anchors, labels)
    # d2l's calc_loss, cls_eval and bbox_eval
    cls = F.cross_entropy(cls_logits.reshape(-1, 3), classes.reshape(-1), reduction="none")
    bbox = F.l1_loss(offsets * mask, offsets_t * mask, reduction="none")
    book = (cls.reshape(3, -1).mean(dim=1) + bbox.reshape(3, -1).mean(dim=1)).mean()
    torch.testing.assert_close(result.loss, book)
    correct = float((cls_logits.argmax(-1) == classes).sum())
    assert result.class_error == pytest.approx(1 - correct / classes.numel())
    absolute = float((offsets_t - offsets.detach()).mul(mask).abs().sum())
    assert result.bbox_mae == pytest.approx(absolute / offsets_t.numel())


def test_hard_negative_mining_counts_positives_and_the_hardest_negatives():
    torch.manual_seed(0)
    model = TinySSD(num_classes=1, input_size=64)
    cls_logits, offsets = model(torch.rand(2, 3, 64, 64))
    labels = torch.tensor([[[0, 0.1, 0.1, 0.5, 0.5]], [[0, 0.4, 0.3, 0.9, 0.9]]])
    result = ssd_loss(cls_logits, offsets, model.anchors, labels, negative_ratio=3)
    offsets_t, mask, classes, _ = multibox_target(model.anchors, labels)
    expected = []
    for image in range(2):
        cls = F.cross_entropy(cls_logits[image], classes[image], reduction="none")
        positive = classes[image] > 0
        hardest = cls[~positive].sort(descending=True).values[: 3 * int(positive.sum())]
        bbox = (offsets[image] * mask[image] - offsets_t[image] * mask[image]).abs().sum()
        expected.append((cls[positive].sum() + hardest.sum() + bbox) / positive.sum())
    torch.testing.assert_close(result.loss, torch.stack(expected).mean())
