import sys

from searchengine.cli.main import main

sys.exit(main())
