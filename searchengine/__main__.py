import sys

from searchengine.cli.start import main

sys.exit(main())
