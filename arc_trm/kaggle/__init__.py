"""The offline Kaggle notebook and its dataset: wheels, checkpoint, config (notebook)."""
