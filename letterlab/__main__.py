import sys

from letterlab.cli.main import main

sys.exit(main())
