"""What makes a synthetic seal image hard, as real photos are: other round things beside the
seal (:mod:`models.data.distractors`, pasted with no box), part of a seal hidden by foliage, a
hand or an object, and photos of screens and projected slides (low contrast, moiré, glare).

Each step draws only from the generator it is given, so an image stays a function of its seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter

from models.data.distractors import Colour, render_distractor

LEAVES: list[Colour] = [(40, 90, 35), (70, 110, 40), (30, 70, 30), (95, 120, 55)]
SKIN: list[Colour] = [(224, 172, 140), (198, 134, 96), (141, 85, 54), (241, 194, 165)]


def add_distractors(
    canvas: Image.Image,
    boxes: list[list[int]],
    rng: random.Random,
    most: int,
    place: Callable[[Image.Image], Image.Image],
    inks: list[Colour],
    min_side: int = 15,
) -> int:
    """Paste up to ``most`` distractors on ``canvas`` where they cover no seal ``boxes`` (and no
    other distractor); ``place`` rotates and tilts each as seals are. Returns how many."""
    width, height = canvas.size
    taken: list[list[int]] = []
    wanted = rng.randint(0, most) if boxes else rng.randint(1, most)
    for _ in range(wanted * 4):
        if len(taken) == wanted:
            break
        largest = max(min_side + 1, int(0.7 * min(width, height)))
        side = int(math.exp(rng.uniform(math.log(min_side), math.log(largest))))
        layer = place(render_distractor(rng, side, inks))
        if layer.width >= width or layer.height >= height:
            continue
        x, y = rng.randrange(width - layer.width), rng.randrange(height - layer.height)
        box = [x, y, x + layer.width, y + layer.height]
        if any(_overlap(box, other) for other in boxes + taken):
            continue
        canvas.paste(layer, (x, y), layer)
        taken.append(box)
    return len(taken)


def occlude(
    canvas: Image.Image,
    box: list[int],
    rng: random.Random,
    others: list[list[int]],
    silhouette: Image.Image | None = None,
) -> None:
    """Hide up to a third of the seal in ``box`` from one side: leaves, a hand or an object
    (the box stays the seal's whole extent, as a person labelling it draws it; the cover is cut
    out of the seal's ``silhouette``, which holds what is seen); nothing is drawn when the cover
    would reach another seal (``others``)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    share = rng.uniform(0.15, 0.33)
    side = rng.choice(["bottom", "top", "left", "right"])
    mw, mh = w // 8, h // 8
    cover = {
        "bottom": (x1 - mw, int(y2 - h * share), x2 + mw, y2 + mh),
        "top": (x1 - mw, y1 - mh, x2 + mw, int(y1 + h * share)),
        "left": (x1 - mw, y1 - mh, int(x1 + w * share), y2 + mh),
        "right": (int(x2 - w * share), y1 - mh, x2 + mw, y2 + mh),
    }[side]
    if any(_overlap(list(cover), other) for other in others):
        return
    draw = ImageDraw.Draw(canvas)
    cut = ImageDraw.Draw(silhouette) if silhouette is not None else None
    kind = rng.random()
    if kind < 0.5:  # foliage: overlapping leaves of a few greens
        cx1, cy1, cx2, cy2 = cover
        leaf = max(2, min(w, h) // 10)
        for _ in range(int(120 * share)):
            cx, cy = rng.uniform(cx1, cx2), rng.uniform(cy1, cy2)
            tone = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in rng.choice(LEAVES))
            draw.ellipse((cx - leaf, cy - leaf / 2, cx + leaf, cy + leaf / 2), fill=tone)
            if cut is not None:
                cut.ellipse((cx - leaf, cy - leaf / 2, cx + leaf, cy + leaf / 2), fill=0)
    elif kind < 0.75:  # a hand or a finger: a rounded skin-coloured shape
        draw.rounded_rectangle(cover, radius=max(2, min(w, h) // 5), fill=rng.choice(SKIN))
        if cut is not None:
            cut.rounded_rectangle(cover, radius=max(2, min(w, h) // 5), fill=0)
    else:  # an object in front: a cup, a sign, a post
        tone = tuple(rng.randint(20, 230) for _ in range(3))
        draw.rectangle(cover, fill=tone)
        if cut is not None:
            cut.rectangle(cover, fill=0)


def on_screen(image: Image.Image, rng: random.Random) -> Image.Image:
    """The whole image as a photo of a screen or a projected slide: washed-out contrast, a
    colour cast, moiré, a glare spot, softness."""
    width, height = image.size
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.3, 0.6))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.9, 1.3))
    cast = Image.new(
        "RGB", image.size, rng.choice([(200, 210, 255), (255, 240, 200), (220, 220, 220)])
    )
    image = ImageChops.multiply(image, cast)
    ys, xs = np.mgrid[0:height, 0:width]
    period, angle = rng.uniform(2.5, 6.0), rng.uniform(0, math.pi)
    wave = np.sin((xs * math.cos(angle) + ys * math.sin(angle)) * math.tau / period)
    pixels = np.asarray(image, dtype=np.float32)
    pixels *= (1 + rng.uniform(0.04, 0.12) * wave)[..., None]
    gx, gy = rng.uniform(0, width), rng.uniform(0, height)
    radius = rng.uniform(0.2, 0.6) * max(width, height)
    glare = np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * radius**2)) * rng.uniform(40, 110)
    pixels += glare[..., None]
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))


def _overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
