#!/usr/bin/env bash
# Installs what the Ceph-backed tests need (radosgw and a one-node cluster's daemons) from
# Debian's packages, once; does nothing when they are there.
set -euo pipefail
if command -v radosgw >/dev/null && command -v ceph-osd >/dev/null && command -v ceph-mgr >/dev/null; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install.sh: the tests need Ceph: apt-get install --no-install-recommends ceph-mon ceph-mgr ceph-osd radosgw ceph-common" >&2
  exit 1
fi
echo "install.sh: installing Ceph from Debian's packages for the radosgw tests" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ceph-mon ceph-mgr ceph-osd radosgw ceph-common >/dev/null
