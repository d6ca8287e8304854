"""One module per command group of the ``pocketmt`` command line. Each adds its subcommands to the
argument tree (``add_parsers``) and delegates to the library; none holds logic of its own."""
