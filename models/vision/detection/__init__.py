"""Object detection: what every detector answers (``base``), the book's TinySSD (``ssd``: the
network; ``tinyssd``: served, large images also in ``tiling``), the R-CNN family (``rcnn``,
``rcnn_resnet``) and ``loading`` (any checkpoint of the detect command, by its ``arch``)."""
