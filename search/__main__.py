"""`python -m search`: the command line (search.commands.cli)."""

from search.commands.cli import main

raise SystemExit(main())
