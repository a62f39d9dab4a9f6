"""The layer advisor: which tap of a pretrained backbone transfers best to your images."""
