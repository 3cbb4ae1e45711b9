"""Grad-CAM explanations of the network's scores."""
