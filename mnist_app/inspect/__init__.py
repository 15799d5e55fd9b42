"""What a network and its data look like from inside, as numbers: every layer's view of one
image, the learned map, robustness to changed digits, and the data set's statistics. Pictures of
these are drawn by `figures`."""
