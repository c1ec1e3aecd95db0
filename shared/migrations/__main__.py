import sys

from shared.migrations import main

sys.exit(main())
