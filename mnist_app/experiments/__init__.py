"""What the app teaches with: sweeps and lessons, comparisons of runs, the coach, mistakes on
purpose (pitfalls), share links, and the plain Keras code behind a run."""
