"""`python -m radlite`: the radlite command line."""

from radlite.cli import main

main()
