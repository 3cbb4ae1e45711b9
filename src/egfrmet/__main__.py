from egfrmet.cli import main

raise SystemExit(main())
