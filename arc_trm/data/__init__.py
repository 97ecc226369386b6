"""From tasks to tensors: invertible augmentations (augment), grids on a canvas (encoding), a task's augmented
versions encoded for test-time training (task_encoding), the pretraining dataset as the official build makes it
(dataset) and generated training tasks for the prior (generate)."""
