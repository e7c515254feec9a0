"""``python -m crmhub.cli`` — same as the ``crmhub`` console script."""

from crmhub.cli import main

raise SystemExit(main())
