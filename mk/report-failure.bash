# Sourced by every recipe shell (the Makefile exports BASH_ENV): when a command fails the recipe
# (the shell runs with -e and pipefail), say which one, so make's "Error N" never comes alone.
# Checks that know what to advise print their own message and `exit 1`, which this does not
# repeat. Unset at once, so that the scripts a recipe runs do not inherit the trap. (GNU make 4.4
# also exports BASH_ENV to $(shell ...): a failing probe there, such as pkg-config before
# `make deps`, is then named too, and changes nothing else. Debian 12 has make 4.3.)
unset BASH_ENV
trap 'echo "make: this command failed (exit $?): $BASH_COMMAND" >&2' ERR
