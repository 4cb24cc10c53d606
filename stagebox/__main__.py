"""``python -m stagebox``: the same as the ``stagebox`` command."""

from stagebox.cli import main

raise SystemExit(main())
