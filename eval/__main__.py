"""`python -m eval`: see eval/main.py."""

import sys

from eval.main import main

sys.exit(main(sys.argv[1:]))
