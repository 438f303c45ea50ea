"""The teaching lab: the controlled LSTM-family comparison, gradient flow, notebook statistics and
the figures that look inside the model (gates, gradients, training curves)."""
