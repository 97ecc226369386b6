"""The shipped prior: the CPU default's model pretrained on training tasks only (prior.pt, its provenance in
prior.json; how it was made and what it scores: docs/prior.md)."""
