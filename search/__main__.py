from search.commands.cli import main

raise SystemExit(main())
