"""Test-time training of one task: the deep-supervision trainer (trainer), its optimisers and EMA (optim), the
rollout of every augmented version (predict) and the vote over de-augmented predictions (vote)."""
