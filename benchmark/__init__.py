"""Hyperparameter benchmarking of image-classification networks on Ray."""
