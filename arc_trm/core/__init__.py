"""What every stage shares: ARC tasks and their files (tasks), the Kaggle submission (submission), atomic
writes (io), typed configs from YAML (config), progress events (events) and the device choice (devices)."""
