"""One module per route group of the HTTP service."""
