"""The application's SAM template and bundle: reading, wiring aliases, packaging code."""
