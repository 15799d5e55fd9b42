"""MNIST Lab: train neural networks on MNIST, watch them learn, draw digits for them to read.

Every process of the app starts here (the server, the command line, a Ray worker, the tests), so
this is where its one process-wide setting lives: how often Python looks for reference cycles.
By default it does so every 700 new objects, and every tenth time over every object of the
process. Loading TensorFlow makes some 300,000 objects that all stay, and the collector went over
the growing heap 7 times while it loaded: 0.5 s of CPU a process (3.8 -> 3.3 s for
`import tensorflow, keras` here, medians of 3). Every 10,000 objects, it does not run once while
TensorFlow loads, and a page's script run or a training step still sets off a collection in step
with what it makes.
"""

import gc

gc.set_threshold(10_000, 10, 10)
