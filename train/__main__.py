"""`python -m train`: see train/main.py."""

import sys

from train.main import main

sys.exit(main(sys.argv[1:]))
