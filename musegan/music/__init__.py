"""Music in and out: MIDI files (`midi`, `song`), a song's time grid (`timing`), pianorolls to
and from MIDI (`pianoroll`), datasets of phrases (`data`, `splits`, `collect`), the model's
output as notes (`notes`), pictures (`images`), audio (`audio`) and the original's results
tree (`results`). No TensorFlow, no JAX."""
