"""The engine: what a training run is and how it trains.

A run's config and its bounds, layer plans, the states a run goes through and the records it
leaves, live progress, numeric precision, MNIST itself, Keras models, the training loop with its
callbacks and learning-rate schedules, the batch feed, the fused kernels, handwriting forms and
the test-set evaluation. It knows nothing of the wings above it: no store, no pages, no command
line.
"""
