"""`python -m mnist_app`: the command line."""

import signal
import sys

from mnist_app.cli import main

# Ctrl-C is how a run is stopped from a terminal (after its batch, scored and saved): take it
# even where the parent process left SIGINT ignored or blocked, as in two full test-suite runs
# where a CLI started by a test never saw its first Ctrl-C.
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
sys.exit(main())
