import sys

from optcompare.cli import main

sys.exit(main())
