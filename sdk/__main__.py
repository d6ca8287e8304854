import sys

from pocketmt.cli import main

sys.exit(main())
