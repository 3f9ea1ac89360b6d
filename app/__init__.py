"""d2l-serve's web service."""

import os

# The service's NumPy work is small matrix-vector products (word queries) run for many requests
# at once: OpenBLAS's worker threads would only spin against each other and the event loop
# (bench/word2vec.py measures it). It must be set before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
