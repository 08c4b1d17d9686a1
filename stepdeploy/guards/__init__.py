"""What must hold before anything is touched: ownership, the target, the permissions boundary."""
