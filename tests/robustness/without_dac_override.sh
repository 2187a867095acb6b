#!/bin/sh
# Runs nnserve (from $NNSERVE_BIN_DIR, else build/bin) with the given flags as
# root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: the capabilities that
# let root read through file permissions. Used by fault_test.cc to make a
# model directory unreadable with chmod 000 although the tests run as root.
exec /usr/bin/setpriv --bounding-set=-dac_override,-dac_read_search \
  --inh-caps=-dac_override,-dac_read_search \
  "${NNSERVE_BIN_DIR:-build/bin}/nnserve" "$@"
