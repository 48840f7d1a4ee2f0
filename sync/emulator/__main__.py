"""`python -m sync.emulator`: the same CLI as `capi-sync emulator`."""
import sys

from .cli import main

sys.exit(main())
