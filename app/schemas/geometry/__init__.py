"""Request and response bodies of the ``/geometry`` endpoints, one module per seam of
``models.ops`` (boxes, anchors, layers); the caps (``limits``) bound the work one request can
ask for, and a request over a cap is refused before any tensor is built."""
