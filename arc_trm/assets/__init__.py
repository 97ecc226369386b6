"""Files shipped inside the package: ConceptARC in Kaggle format (conceptarc) and the CPU default's prior (prior)."""
