"""The ``billecta-sync`` command line: the outermost layer, free to use every other package."""
