"""A run over many tasks within a runtime limit: its config (config), one task within its slice of time (task),
the run with its workers, resume and submission (run), every decision about time (schedule: the whole-run
plan, the live slices, the margins), the claims that share tasks between processes (claims) and the per-task
records (records)."""
