"""Vision models: TinySSD detection (and its transforms), shared image preprocessing."""
