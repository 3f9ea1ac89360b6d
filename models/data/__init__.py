"""Data sets: where to find them (locally first, else d2l's data hub) and how to read them."""
