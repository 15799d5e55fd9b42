"""Plotly figures and the live JSON: plain data in, figures out. Learning curves and confusion
matrices, the inside of a network, robustness, weights over training, a sweep's results and a
run's live view."""
