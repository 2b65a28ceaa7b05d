"""``python -m blend.cli`` is the ``blend`` command."""

from blend.cli import main

raise SystemExit(main())
