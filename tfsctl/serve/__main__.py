import sys

from tfsctl.serve import main

sys.exit(main())
