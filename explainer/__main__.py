"""``python -m explainer``: the command line; Ctrl-C while it loads ends quietly (status 130)."""

import sys

from explainer.interrupts import deliver_interrupts_to_main

deliver_interrupts_to_main()
try:
    from explainer.cli import main
except KeyboardInterrupt:
    sys.exit(130)

sys.exit(main())
