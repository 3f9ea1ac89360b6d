"""Training commands: ``python -m models.train <model> [options]``."""
