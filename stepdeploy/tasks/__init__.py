"""One module per Task state, named as its functions/<name>/ folder; the shared task handler."""
