"""Data loaders and embedded data sets (numpy only at import; torch where batches are made)."""
