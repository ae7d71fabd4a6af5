"""Pre-training on cropped sequences: the options (args), the run they build (run), the loop that trains it (loop),
and what the loop needs: its state, loaders, batches (collate), objective, budget, length schedule, checkpoints,
preemption, the feature-encoder terms and the run's health."""
