"""Model weights on disk: where an experiment keeps them (`store`), TensorFlow checkpoints
(`checkpoints`), framework-free training states and shipped generators (`states`), exporting
(`export`) and averaging (`averaging`)."""
