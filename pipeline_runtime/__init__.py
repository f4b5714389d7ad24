"""Small utilities shared by the long-running processes (worker, sink): GC and process tuning."""
