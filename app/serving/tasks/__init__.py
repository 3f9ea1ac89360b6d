"""Served tasks, one module per task kind (``catalog.TASKS`` lists them): each class loads its
model, runs its batches and declares its HTTP routes; ``image`` holds what the tasks that take
image uploads share."""
