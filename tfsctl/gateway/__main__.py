import sys

from tfsctl.gateway.server import main

sys.exit(main())
