"""Streaming readers, one module per input format. Each yields batches plus rejects."""
