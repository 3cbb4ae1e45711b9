"""The network, its runtime, data, loop, checkpoints, model selection and the final model."""
