"""Top of orbweaver: the command line and the demo that drive every pipeline stage."""
