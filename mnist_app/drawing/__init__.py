"""Reading a drawn digit: turning a drawing or photo into an MNIST image, the models that can
read it and a numpy forward pass that reads it fast, and the class set of digits students drew."""
