"""Things a seal detector must learn are not the seal, drawn procedurally: clock faces, wheels
and hubcaps, coins, plates and saucers, roundels and rosettes, stars and crests in circles,
ring-shaped logos, and circular badges with ring text in other scripts.

Each is an RGBA image about ``side`` pixels across with the inks and fills of the seals
(:mod:`models.data.synthesize` pastes them with the same tilts and lighting, and no box). Every
drawing is a function of its random generator alone: no font files beyond Pillow's own, so
the same seed draws the same image on every machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter, ImageFont

Colour = tuple[int, int, int]
METALS: list[Colour] = [(192, 192, 198), (212, 175, 55), (184, 115, 51), (150, 150, 155)]
PAINTS: list[Colour] = [(200, 30, 40), (25, 60, 150), (240, 240, 235), (20, 20, 20),
                        (240, 200, 40), (30, 120, 60), (250, 120, 20)]  # fmt: skip
PAPERS: list[Colour] = [(245, 245, 240), (235, 228, 210), (250, 250, 250), (225, 230, 235)]
SCALE = 4  # drawn at 4x and reduced: smooth edges without Pillow's anti-aliasing


def render_distractor(
    rng: random.Random, side: int, inks: list[Colour], kind: str | None = None
) -> Image.Image:
    """One distractor of ``kind`` (default: one drawn at random), as RGBA ``side`` x ``side``
    (transparent outside it)."""
    kind = kind or rng.choice(list(KINDS))
    big = side * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    KINDS[kind](ImageDraw.Draw(image), big, rng, inks)
    return _soften(image.resize((side, side), Image.Resampling.LANCZOS), rng)


def _disc(draw: ImageDraw.ImageDraw, side: int, inset: float, fill: Colour, **kw: object) -> None:
    pad = side * inset
    draw.ellipse((pad, pad, side - 1 - pad, side - 1 - pad), fill=fill + (255,), **kw)


def _point(side: int, radius: float, angle: float) -> tuple[float, float]:
    centre = side / 2
    return centre + radius * math.cos(angle), centre + radius * math.sin(angle)


def clock(draw: ImageDraw.ImageDraw, side: int, rng: random.Random, inks: list[Colour]) -> None:
    """A wall or station clock: rim, face, ticks or numerals, hands."""
    rim = rng.choice(METALS + [(20, 20, 20), (120, 70, 30)])
    _disc(draw, side, 0, rim)
    _disc(draw, side, rng.uniform(0.04, 0.1), rng.choice(PAPERS))
    ink = rng.choice([(15, 15, 15), (30, 30, 60), rng.choice(inks)])
    radius = side * 0.36
    numerals = rng.random() < 0.5
    font = ImageFont.load_default(int(side * 0.09))
    for hour in range(12 if rng.random() < 0.8 else 60):
        angle = hour * math.tau / (12 if hour < 12 else 60) - math.pi / 2
        if numerals and hour < 12:
            x, y = _point(side, radius, angle)
            draw.text((x, y), str(hour or 12), fill=ink + (255,), font=font, anchor="mm")
        else:
            width = side // (60 if hour % 3 else 35)
            draw.line([_point(side, radius * 0.9, angle), _point(side, radius * 1.05, angle)],
                      fill=ink + (255,), width=max(1, width))  # fmt: skip
    for length, width in ((0.22, 0.035), (0.32, 0.022), (0.34, 0.008)):
        angle = rng.uniform(0, math.tau)
        draw.line([_point(side, 0, 0), _point(side, side * length, angle)],
                  fill=ink + (255,), width=max(1, int(side * width)))  # fmt: skip
    _disc(draw, side, 0.47, ink)


def wheel(draw: ImageDraw.ImageDraw, side: int, rng: random.Random, inks: list[Colour]) -> None:
    """A bicycle wheel or a car's hubcap: tyre, rim, spokes or slots, hub."""
    hubcap = rng.random() < 0.5
    _disc(draw, side, 0, (25, 25, 25) if rng.random() < 0.8 else rng.choice(PAINTS))
    metal = rng.choice(METALS)
    _disc(draw, side, 0.08, metal)
    if hubcap:
        _disc(draw, side, 0.12, tuple(int(c * 0.8) for c in metal))  # type: ignore[arg-type]
        slots = rng.randint(5, 12)
        for slot in range(slots):
            angle = slot * math.tau / slots
            poly = [_point(side, side * r, angle + d) for r, d in
                    ((0.16, -0.12), (0.36, -0.08), (0.36, 0.08), (0.16, 0.12))]  # fmt: skip
            draw.polygon(poly, fill=(40, 40, 40, 255))
    else:
        draw.ellipse((side * 0.12, side * 0.12, side * 0.88, side * 0.88), fill=(0, 0, 0, 0))
        spokes = rng.choice([16, 24, 32, 36])
        for spoke in range(spokes):
            angle = spoke * math.tau / spokes
            draw.line([_point(side, side * 0.06, angle + 0.3), _point(side, side * 0.38, angle)],
                      fill=metal + (255,), width=max(1, side // 160))  # fmt: skip
    _disc(draw, side, 0.42, metal)


def coin(draw: ImageDraw.ImageDraw, side: int, rng: random.Random, inks: list[Colour]) -> None:
    """A coin: metal disc, raised rim, a profile or a number, lettering round the edge."""
    metal = rng.choice(METALS)
    dark = tuple(int(c * 0.6) for c in metal)
    _disc(draw, side, 0, dark)  # type: ignore[arg-type]
    _disc(draw, side, 0.04, metal)
    draw.ellipse((side * 0.1,) * 2 + (side * 0.9,) * 2, outline=dark + (255,), width=side // 80)
    if rng.random() < 0.5:  # a head in profile
        draw.ellipse((side * 0.33, side * 0.25, side * 0.63, side * 0.62), fill=dark + (255,))
        draw.rectangle((side * 0.4, side * 0.55, side * 0.56, side * 0.72), fill=dark + (255,))
    else:
        font = ImageFont.load_default(int(side * 0.3))
        draw.text((side / 2, side / 2), str(rng.choice([1, 2, 5, 10, 20, 50])),
                  fill=dark + (255,), font=font, anchor="mm")  # fmt: skip
    _ring_text(draw, side, rng, dark, 0.4)  # type: ignore[arg-type]


def plate(draw: ImageDraw.ImageDraw, side: int, rng: random.Random, inks: list[Colour]) -> None:
    """A plate or saucer seen from above: rim, well, maybe a patterned band."""
    china = rng.choice(PAPERS + [rng.choice(PAINTS)])
    shade = tuple(max(0, c - 35) for c in china)
    _disc(draw, side, 0, shade)  # type: ignore[arg-type]
    _disc(draw, side, 0.02, china)
    if rng.random() < 0.5:
        band = rng.choice(inks + PAINTS)
        draw.ellipse((side * 0.08,) * 2 + (side * 0.92,) * 2, outline=band + (255,),
                     width=max(1, int(side * rng.uniform(0.01, 0.05))))  # fmt: skip
    draw.ellipse((side * 0.25,) * 2 + (side * 0.75,) * 2, outline=shade + (255,), width=side // 90)


def roundel(draw: ImageDraw.ImageDraw, side: int, rng: random.Random, inks: list[Colour]) -> None:
    """Concentric rings (an air force roundel, a target), a star in a circle or a rosette."""
    style = rng.choice(["rings", "star", "rosette"])
    colours = rng.sample(PAINTS + inks, 3)
    if style == "rings":
        for ring, inset in enumerate(sorted(rng.sample([0.0, 0.12, 0.2, 0.28, 0.36], 3))):
            _disc(draw, side, inset, colours[ring % 3])
        return
    _disc(draw, side, 0, colours[0])
    if style == "star":
        points = rng.choice([5, 5, 6, 8])
        turn = rng.uniform(0, math.tau)
        star = [
            _point(side, side * (0.42 if i % 2 == 0 else 0.17), turn + i * math.pi / points)
            for i in range(2 * points)
        ]
        draw.polygon(star, fill=colours[1] + (255,))
        return
    petals = rng.randint(8, 16)
    for petal in range(petals):
        x, y = _point(side, side * 0.28, petal * math.tau / petals)
        r = side * 0.13
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colours[1] + (255,))
    _disc(draw, side, 0.36, colours[2])


def badge(draw: ImageDraw.ImageDraw, side: int, rng: random.Random, inks: list[Colour]) -> None:
    """Another circular badge or seal: rings, text round the ring in another script, and a
    centre emblem (a star, a cross, a shield, initials)."""
    ink, paper = rng.choice(inks + PAINTS), rng.choice(PAPERS)
    _disc(draw, side, 0, ink)
    _disc(draw, side, 0.03, paper)
    draw.ellipse((side * 0.2,) * 2 + (side * 0.8,) * 2, outline=ink + (255,), width=side // 60)
    _ring_text(draw, side, rng, ink, 0.39)
    emblem = rng.choice(["star", "cross", "shield", "letters"])
    fill = ink + (255,)
    if emblem == "star":
        star = [_point(side, side * (0.22 if i % 2 == 0 else 0.09), i * math.pi / 5 - math.pi / 2)
                for i in range(10)]  # fmt: skip
        draw.polygon(star, fill=fill)
    elif emblem == "cross":
        w = side * 0.05
        draw.rectangle((side / 2 - w, side * 0.3, side / 2 + w, side * 0.7), fill=fill)
        draw.rectangle((side * 0.3, side / 2 - w, side * 0.7, side / 2 + w), fill=fill)
    elif emblem == "shield":
        s = side
        draw.polygon([(s * 0.35, s * 0.32), (s * 0.65, s * 0.32), (s * 0.65, s * 0.52),
                      (s * 0.5, s * 0.7), (s * 0.35, s * 0.52)], fill=fill)  # fmt: skip
    else:
        font = ImageFont.load_default(int(side * 0.2))
        letters = "".join(rng.choice("ABCDEGKMNPRSTUW") for _ in range(2))
        draw.text((side / 2, side / 2), letters, fill=fill, font=font, anchor="mm")


def ring_logo(draw: ImageDraw.ImageDraw, side: int, rng: random.Random, inks: list[Colour]) -> None:
    """A ring-shaped logo: a thick open ring, or two letters in a circle ("CC")."""
    colour = rng.choice(PAINTS + inks) + (255,)
    width = int(side * rng.uniform(0.06, 0.16))
    if rng.random() < 0.5:
        gap = rng.uniform(20, 70)
        start = rng.uniform(0, 360)
        draw.arc((0, 0, side - 1, side - 1), start, start + 360 - gap, fill=colour, width=width)
        return
    draw.ellipse((0, 0, side - 1, side - 1), outline=colour, width=width // 2)
    font = ImageFont.load_default(int(side * 0.42))
    letters = rng.choice(["CC", "OO", "GO", "CO", "QC"])
    draw.text((side / 2, side / 2), letters, fill=colour, font=font, anchor="mm")


def _ring_text(
    draw: ImageDraw.ImageDraw, side: int, rng: random.Random, ink: Colour, radius: float
) -> None:
    """Glyphs round a ring: letters, or strokes of an invented script (arcs, bars, dots), so the
    detector meets ring lettering that is not the seal's."""
    count = rng.randint(14, 30)
    height = side * 0.06
    font = ImageFont.load_default(int(height * 1.4))
    invented = rng.random() < 0.6
    for index in range(count):
        angle = index * math.tau / count - math.pi / 2
        x, y = _point(side, side * radius, angle)
        if not invented:
            letter = rng.choice("ABCDEFGHIKLMNOPRSTUVXYZ")
            draw.text((x, y), letter, fill=ink + (255,), font=font, anchor="mm")
            continue
        for _ in range(rng.randint(1, 3)):  # a glyph of one to three strokes
            dx, dy = rng.uniform(-height, height) / 2, rng.uniform(-height, height) / 2
            shape = rng.random()
            box = (x - height / 2 + dx / 2, y - height / 2 + dy / 2, x + height / 2, y + height / 2)
            if shape < 0.4:
                draw.arc(box, rng.uniform(0, 360), rng.uniform(0, 360) + 180,
                         fill=ink + (255,), width=max(1, side // 150))  # fmt: skip
            elif shape < 0.8:
                draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=ink + (255,),
                          width=max(1, side // 150))  # fmt: skip
            else:
                r = height / 8
                draw.ellipse((x + dx - r, y + dy - r, x + dx + r, y + dy + r), fill=ink + (255,))


def _soften(image: Image.Image, rng: random.Random) -> Image.Image:
    """A little blur now and then, as printing and photography give."""
    if rng.random() < 0.3:
        return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    return image


KINDS: dict[str, Callable[[ImageDraw.ImageDraw, int, random.Random, list[Colour]], None]] = {
    "clock": clock,
    "wheel": wheel,
    "coin": coin,
    "plate": plate,
    "roundel": roundel,
    "badge": badge,
    "ring_logo": ring_logo,
}
