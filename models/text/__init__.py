"""Text models: vocabulary and word2vec (skip-gram and CBOW with negative sampling)."""
