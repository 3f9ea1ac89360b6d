"""``/geometry``: box conversion, IoU, NMS, anchors, offset coding, multibox detection, RoI
pooling and transposed convolution over JSON.

Thin: each endpoint turns the validated body into float64 tensors, calls one op of
``models.ops`` and returns the result. The work runs on the geometry pool's own threads
(``D2L_GEOMETRY_WORKERS``), never on the event loop or the image models' threads: the JSON body
is parsed there, the op runs there and the answer is encoded there. A request is checked before
its body is read and taken in once it has arrived, at most ``D2L_GEOMETRY_QUEUE`` at once (503
with ``Retry-After`` beyond), and the caps in ``app.schemas.geometry.limits`` bound each one's
cost, every number within ±2^53.
One module per seam of ``models.ops``: boxes, anchors, layers.
"""

from __future__ import annotations

from app.routers.geometry import anchors, boxes, layers

# Each part carries the /geometry prefix itself: a route's template (metrics, logs) is the path
# of the router that declares it.
routers = [boxes.router, anchors.router, layers.router]
