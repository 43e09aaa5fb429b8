"""Model weights on disk: TensorFlow checkpoints (`checkpoints`), framework-free training states
and shipped generators (`states`), exporting (`export`) and averaging (`averaging`)."""
