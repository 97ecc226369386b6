"""Pretraining: the paper's recipe on several GPUs through torchrun (pretrain) and the CPU default's prior on
generated and training tasks (prior)."""
